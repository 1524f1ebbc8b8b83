"""``drill run`` against the live sandbox: the plan's SLO reaches the probes, runs are guarded
by default (and the store says so), and preflight refuses a blast-radius breach with nothing
injected."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.drills.store import open_store
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox.lifecycle import require_state

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

LOAD = {
    "name": "chaosdrill-load",
    "provider": {
        "type": "python",
        "module": "chaosdrill.controls.load",
        "arguments": {
            "warmup_s": 2,
            "profile": {
                "streams": [
                    {"name": "chat", "tenant": "acme", "priority": "interactive", "rate": 60, "users": 300}
                ]
            },
        },
    },
}
LEDGER = {"name": "chaosdrill-ledger", "provider": {"type": "python", "module": "chaosdrill.controls.ledger"}}
SLO_CONF = {"type": "env", "key": "CHAOSDRILL_SLO_AVAILABILITY", "default": 0.995, "env_var_type": "float"}


def _experiment(
    title: str, expect: str, method: list[dict[str, Any]], rollbacks: list[dict[str, Any]], **ext: Any
) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": title,
        "description": "a drill test against the sandbox",
        "configuration": {
            "chaosdrill_target": "sandbox",
            "chaosdrill_allow_dcs": ["dc1"],
            "slo_availability": SLO_CONF,
        },
        "extensions": [{"name": "chaosdrill", "expect": {"status": expect}, **ext}],
        "controls": [LEDGER, LOAD],
        "steady-state-hypothesis": {
            "title": "the SLO holds",
            "probes": [
                {
                    "type": "probe",
                    "name": "availability-at-least-slo",
                    "tolerance": True,
                    "provider": {
                        "type": "python",
                        "module": "probes.slo",
                        "func": "availability_at_least",
                        "arguments": {"target": "${slo_availability}"},
                    },
                }
            ],
        },
        "method": method,
        "rollbacks": rollbacks,
    }


def _action(name: str, module: str, func: str, pause: float = 0, **arguments: Any) -> dict[str, Any]:
    act: dict[str, Any] = {
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }
    if pause:
        act["pauses"] = {"after": pause}
    return act


# Some errors, far from all: dc1's breaker and fallback off and 800 ms on az-a, for 3 s.
ERRORS = [
    _action(
        "breaker-off", "actions.defences", "disable_defences", dc="dc1", breaker=True, fallback=True, ttl_s=60
    ),
    _action(
        "slow-az-a", "actions.latency", "add_latency", pause=3, latency_ms=800, dc="dc1", az="az-a", ttl_s=60
    ),
    _action("fast-az-a", "actions.latency", "remove_latency", pause=1, dc="dc1", az="az-a"),
]
UNDO = [
    _action("fast-az-a", "actions.latency", "remove_latency", dc="dc1", az="az-a"),
    _action("defences-on", "actions.defences", "restore_defences", dc="dc1"),
]
OPT_OUT = {"guardrail": {"enabled": False, "reason": "a test that needs a few errors to judge the SLO flow"}}


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _drill(plan: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosdrill.cli",
            "drill",
            "run",
            str(plan),
            "--no-sandbox",
            "--out",
            str(out),
        ],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def _plan(tmp_path: Path, name: str, experiments: list[str], **extra: Any) -> Path:
    doc = {"name": name, "target": "sandbox", "schedule": "0 3 1 * *", "experiments": experiments, **extra}
    path = tmp_path / f"{name}.yaml"
    _write(path, doc)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "experiments").mkdir()
    return tmp_path


def test_plan_slo_reaches_the_probe_and_runs_are_guarded(sandbox: dict[str, Any], repo: Path) -> None:
    _write(
        repo / "experiments" / "errors.yaml",
        _experiment("a few errors", "completed", ERRORS, UNDO, **OPT_OUT),
    )
    _write(repo / "experiments" / "quiet.yaml", _experiment("no fault", "completed", [], []))
    # A lenient plan SLO: the few errors pass only if the plan's 0.5 replaced the file's 0.995.
    lenient = _plan(
        repo, "lenient", ["experiments/errors.yaml", "experiments/quiet.yaml"], slo={"availability": 0.5}
    )
    done = _drill(lenient, repo / "reports" / "lenient", repo)
    assert done.returncode == 0, done.stdout + done.stderr
    with open_store(repo / "reports" / "drill-history.sqlite") as store:
        runs = {r.scenario: r for r in store.runs()}
    errors, quiet = runs["errors"], runs["quiet"]
    assert errors.availability is not None and 0.5 < errors.availability < 0.995  # the default would deviate
    assert errors.guarded is False and errors.detail["guard"]["reason"].startswith("a test that needs")
    assert quiet.guarded is True  # added by the drill, armed in the run
    journal = json.loads((repo / "reports" / "lenient" / "quiet" / "journal.json").read_text())
    assert journal["chaosdrill"]["guardrail"]["armed"] is True
    assert "guarded" in done.stdout

    # The strictest plan SLO: the same few errors now break it.
    strict = _plan(repo, "strict", ["experiments/errors.yaml"], slo={"availability": 1.0})
    done = _drill(strict, repo / "reports" / "strict", repo)
    assert done.returncode == 1, done.stdout + done.stderr
    journal = json.loads((repo / "reports" / "strict" / "errors" / "journal.json").read_text())
    assert journal["deviated"] is True
    failed = json.dumps(journal["steady_states"]["after"])
    assert "below the SLO target 100.0000%" in failed


def _snapshot() -> dict[str, Any]:
    state = require_state()
    client = ToxiproxyClient(state["toxiproxy"]["api"])
    proxies = client.proxies()
    return {
        "ledger": len(default_ledger().history()),
        "toxics": {p: client.toxics(p) for p in sorted(proxies)},
        "disabled": sorted(name for name, px in proxies.items() if not px.enabled),
    }


def test_preflight_refuses_a_blast_radius_breach_and_nothing_is_injected(
    sandbox: dict[str, Any], repo: Path
) -> None:
    ok = [
        _action("slow-dc1", "actions.latency", "add_latency", latency_ms=100, dc="dc1", az="az-a", ttl_s=60)
    ]
    breach = [
        _action("slow-dc2", "actions.latency", "add_latency", latency_ms=100, dc="dc2", az="az-a", ttl_s=60)
    ]
    _write(repo / "experiments" / "a-fine.yaml", _experiment("fine", "completed", ok, []))
    _write(repo / "experiments" / "b-breach.yaml", _experiment("dc2 is not allowed", "completed", breach, []))
    before = _snapshot()
    plan = _plan(repo, "breach", ["experiments/a-fine.yaml", "experiments/b-breach.yaml"])
    done = _drill(plan, repo / "reports" / "breach", repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "b-breach.yaml" in done.stderr and "refused by preflight" in done.stderr and "dc2" in done.stderr
    assert _snapshot() == before  # not even the allowed experiment ran: the drill is refused whole
    assert not list((repo / "reports" / "breach").glob("*/journal.json"))
