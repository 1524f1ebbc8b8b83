"""The fault window judged against its baseline, with real load against the real sandbox.

Each test is one real ``chaos run`` of a purpose-built experiment: the ledger and load
controls, a fault held for a few seconds, and ``probes.slo``'s baseline and budget probes
in the method once the fault is removed (each is judged on its own there; a hypothesis
stops at its first failure), and in the steady-state hypothesis, where before the method
they pass as skipped. A mild fault
(40 ms on one AZ of one DC) passes both baseline probes; a harsh one (every dc1 connection
reset with its defences off, and 300 ms on every dc2 replica) fails both, each for its own
reason, while the same bounds hold.
"""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_run_support import LEDGER_CONTROL, Finished, action, chaos_run, load_control, py

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

OK = {"type": "jsonpath", "path": "$.ok", "expect": True}
BOUNDS = {"max_drop": 0.01, "max_rise_ms": 150.0}


def _probe(name: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "probe", "name": name, "tolerance": OK, "provider": py("probes.slo", func, **arguments)}


JUDGED = [
    _probe("judged-good-ratio-drop", "good_ratio_drop_at_most", max_drop=BOUNDS["max_drop"]),
    _probe("judged-p99-rise", "latency_rise_at_most", max_rise_ms=BOUNDS["max_rise_ms"]),
    _probe("judged-budget", "error_budget_within", slo=0.9995, window="fault"),
]


def _experiment(
    faults: list[tuple[str, str, dict[str, Any], dict[str, Any]]], hold_s: float
) -> dict[str, Any]:
    """``faults``: (module, inject func, its arguments, the remove func's arguments with "func")."""
    method = [
        action(f"inject-{i}", py(module, func, ttl_s=60, **args))
        for i, (module, func, args, _) in enumerate(faults)
    ]
    method[-1]["pauses"] = {"after": hold_s}
    undo = [
        action(f"remove-{i}", py(module, remove["func"], **{k: v for k, v in remove.items() if k != "func"}))
        for i, (module, _, _, remove) in enumerate(faults)
    ]
    return {
        "version": "1.0.0",
        "title": "baseline probes",
        "description": "tests/integration/test_slo_baseline.py",
        "configuration": {"chaosdrill_target": "sandbox"},
        "controls": [
            LEDGER_CONTROL,
            load_control(
                warmup_s=3,
                profile={
                    "timeout_s": 3,
                    "streams": [
                        {
                            "name": "chat",
                            "tenant": "acme",
                            "priority": "interactive",
                            "rate": 90,
                            "users": 300,
                        },
                    ],
                },
            ),
        ],
        "steady-state-hypothesis": {
            "title": "the fault window stays near its baseline",
            "probes": [
                _probe("good-ratio-drop", "good_ratio_drop_at_most", max_drop=BOUNDS["max_drop"]),
                _probe("p99-rise", "latency_rise_at_most", max_rise_ms=BOUNDS["max_rise_ms"]),
            ],
        },
        "method": [*method, *undo, *JUDGED],
        "rollbacks": undo,
    }


def _run(tmp: Path, doc: dict[str, Any]) -> Finished:
    path = tmp / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return chaos_run(path, tmp, dict(os.environ), timeout_s=120)


def _judged(finished: Finished) -> dict[str, dict[str, Any]]:
    """The method's probes, by name (without the "judged-" prefix)."""
    return {
        r["activity"]["name"].removeprefix("judged-"): r
        for r in finished.journal["run"]
        if r["activity"]["type"] == "probe"
    }


def _before(finished: Finished) -> dict[str, dict[str, Any]]:
    before = finished.journal["steady_states"]["before"]
    return {p["activity"]["name"]: p for p in before["probes"]}


def test_a_mild_fault_stays_within_its_baseline(sandbox: dict[str, Any], tmp_path: Path) -> None:
    mild = [
        (
            "actions.latency",
            "add_latency",
            {"latency_ms": 40, "dc": "dc1", "az": "az-a"},
            {"func": "remove_latency", "dc": "dc1", "az": "az-a"},
        )
    ]
    finished = _run(tmp_path, _experiment(mild, hold_s=6))
    assert finished.journal["status"] == "completed", finished.log
    assert finished.journal["deviated"] is False, finished.log
    assert all(r["status"] == "succeeded" for r in finished.journal["run"]), finished.log
    # Before the method there is no fault, so nothing to compare: skipped, not judged.
    before = _before(finished)
    assert set(before) == {"good-ratio-drop", "p99-rise"}
    assert all(p["output"].get("skipped") for p in before.values()), before
    after = _judged(finished)
    drop = after["good-ratio-drop"]["output"]
    assert drop["ok"] and drop["drop"] <= BOUNDS["max_drop"], drop
    assert drop["baseline"]["requests"] >= 50 and drop["observed"]["requests"] >= 300, drop
    assert drop["baseline"]["t1"] <= drop["observed"]["t0"], drop  # the baseline precedes the fault
    rise = after["p99-rise"]["output"]
    assert rise["ok"] and rise["rise_ms"] <= BOUNDS["max_rise_ms"], rise
    # The sandbox's own answers take ~100 ms (p99 ~200 ms), so the baseline is real latency.
    assert rise["baseline_ms"] > 50 and rise["factor"] is not None, rise
    budget = after["budget"]["output"]
    assert budget["budget_min"] == pytest.approx(21.6)
    assert budget["budget_consumed_min"] == pytest.approx(budget["error_ratio"] * budget["duration_s"] / 60)


def test_a_harsh_fault_breaks_both_baseline_bounds(sandbox: dict[str, Any], tmp_path: Path) -> None:
    harsh = [
        (
            "actions.defences",
            "disable_defences",
            {"dc": "dc1", "breaker": True, "fallback": True},
            {"func": "restore_defences", "dc": "dc1"},
        ),
        (
            "actions.network",
            "add_reset_peer",
            {"dc": "dc1", "az": "*"},
            {"func": "remove_reset_peer", "dc": "dc1", "az": "*"},
        ),
        (
            "actions.latency",
            "add_latency",
            {"latency_ms": 300, "dc": "dc2", "az": "*"},
            {"func": "remove_latency", "dc": "dc2", "az": "*"},
        ),
    ]
    finished = _run(tmp_path, _experiment(harsh, hold_s=5))
    assert finished.journal["deviated"] is True, finished.log
    after = _judged(finished)
    drop, rise = after["good-ratio-drop"], after["p99-rise"]
    assert drop["status"] == "failed", drop
    assert "below its baseline" in drop["exception"][-1], drop["exception"]
    assert rise["status"] == "failed", rise
    assert f"more than {BOUNDS['max_rise_ms']:g} ms" in rise["exception"][-1], rise["exception"]
    # The budget probe only reports here: the fault window spent real minutes of it.
    budget = after["budget"]["output"]
    assert budget["ok"] and budget["error_ratio"] > 0.05 and budget["budget_consumed_min"] > 0.005, budget
