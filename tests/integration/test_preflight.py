"""Preflight against the live sandbox lists what each action would touch and touches nothing;
a malformed experiment given to a real ``chaos run`` is refused with nothing injected."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill import cli
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox.lifecycle import require_state

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SANDBOX_EXPERIMENTS = sorted((REPO / "experiments" / "sandbox").glob("*.yaml"))


def _snapshot() -> dict[str, Any]:
    """Everything a fault would change: ledger entries, toxics, disabled proxies, replica pids."""
    state = require_state()
    client = ToxiproxyClient(state["toxiproxy"]["api"])
    proxies = client.proxies()
    return {
        "ledger": len(default_ledger().history()),
        "toxics": {p: client.toxics(p) for p in sorted(proxies)},
        "disabled": sorted(name for name, px in proxies.items() if not px.enabled),
        "pids": sorted(
            (slot["replica"]["name"], slot["replica"]["pid"])
            for dc in state["dcs"].values()
            for pool in dc["azs"].values()
            for slot in pool["slots"]
            if slot.get("replica")
        ),
    }


def _preflight(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    rc = cli.main(["preflight", "--json", str(path)])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip().startswith("{") else {}


def _activity(plan: dict[str, Any], where: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in plan["activities"] if a["where"] == where)
    return found


@pytest.mark.parametrize("path", SANDBOX_EXPERIMENTS, ids=lambda p: p.stem)
def test_preflight_touches_nothing(
    sandbox: dict[str, Any], path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot()
    rc, plan = _preflight(path, capsys)
    assert rc == 0, plan
    assert plan["ok"] and plan["target"] == "sandbox"
    assert [a["where"] for a in plan["activities"]][:1] == ["method[0]"]
    assert _snapshot() == before


def test_link_faults_resolve_to_the_az_proxies(
    sandbox: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = require_state()
    expected = sorted(slot["proxy"] for slot in state["dcs"]["dc1"]["azs"]["az-a"]["slots"])
    rc, plan = _preflight(REPO / "experiments/sandbox/az-latency-breaker.yaml", capsys)
    assert rc == 0
    assert sorted(_activity(plan, "method[0]")["details"]["proxies"]) == expected
    assert sorted(_activity(plan, "rollbacks[0]")["details"]["proxies"]) == expected
    rc, plan = _preflight(REPO / "experiments/sandbox/redis-unreachable.yaml", capsys)
    assert _activity(plan, "method[0]")["details"]["proxies"] == [state["dcs"]["dc1"]["redis"]["proxy"]]


def test_kill_lists_the_replicas_kill_replicas_would_hit(
    sandbox: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = require_state()
    dc2 = sorted(
        (slot["replica"]["name"], slot["replica"]["pid"])
        for pool in state["dcs"]["dc2"]["azs"].values()
        for slot in pool["slots"]
        if slot.get("replica")
    )
    rc, plan = _preflight(REPO / "experiments/sandbox/kill-half-dc-replicas.yaml", capsys)
    assert rc == 0
    victims = _activity(plan, "method[0]")["details"]["replicas"]
    assert [(v["name"], v["pid"]) for v in victims] == dc2[: math.ceil(len(dc2) * 0.5)]


def test_surge_and_defences(sandbox: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    rc, plan = _preflight(REPO / "experiments/sandbox/tenant-surge-ratelimit.yaml", capsys)
    assert rc == 0
    assert _activity(plan, "method[0]")["details"]["streams"] == [
        {"name": "burst", "rate": 30, "new_rate": 150.0}
    ]
    rc, plan = _preflight(REPO / "experiments/sandbox/guardrail-abort.yaml", capsys)
    assert _activity(plan, "method[0]")["details"]["defences_off"] == ["breaker", "fallback"]
    rc, plan = _preflight(REPO / "experiments/sandbox/breaker-disabled-must-fail.yaml", capsys)
    assert _activity(plan, "method[0]")["details"]["defences_off"] == ["breaker"]
    # the negative controls' own switches: planned, nothing touched
    rc, plan = _preflight(REPO / "experiments/sandbox/autoscaler-paused-must-fail.yaml", capsys)
    assert rc == 0
    assert [_activity(plan, f"method[{i}]")["details"] for i in range(3)] == [
        {"autoscaler_paused": dc} for dc in ("dc1", "dc2", "dc3")
    ]
    rc, plan = _preflight(REPO / "experiments/sandbox/failover-disabled-must-fail.yaml", capsys)
    assert rc == 0
    assert _activity(plan, "method[0]")["details"] == {"health_checks_off": "dc2"}


def _variant(tmp_path: Path, source: str, edit: Any) -> Path:
    data = yaml.safe_load((REPO / "experiments" / "sandbox" / source).read_text())
    edit(data)
    path = tmp_path / f"variant-{source}"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_blast_radius_violations_exit_1(
    sandbox: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot()
    over = _variant(
        tmp_path,
        "kill-half-dc-replicas.yaml",
        lambda d: d["configuration"].update(chaosdrill_max_percentage=25),
    )
    rc, plan = _preflight(over, capsys)
    assert rc == 1
    assert "exceeds the allowed 25%" in plan["problems"][0]

    def other_dc(d: dict[str, Any]) -> None:
        d["method"][0]["provider"]["arguments"]["dc"] = "dc2"

    outside = _variant(tmp_path, "az-latency-breaker.yaml", other_dc)
    rc, plan = _preflight(outside, capsys)
    assert rc == 1
    assert any("outside the experiment's allowlist" in p for p in plan["problems"])
    assert _snapshot() == before


def test_malformed_experiment_is_bad_input(
    sandbox: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _variant(
        tmp_path,
        "kill-half-dc-replicas.yaml",
        lambda d: d["configuration"].update(chaosdrill_max_percentage=500),
    )
    assert cli.main(["preflight", str(bad)]) == 2
    assert "configuration.chaosdrill_max_percentage" in capsys.readouterr().err


def _malformed(d: dict[str, Any], which: int) -> None:
    if which == 0:
        d["configuration"]["chaosdrill_max_percentage"] = 500
    elif which == 1:
        d["configuration"]["chaosdrill_allow_dcs"] = "dc1"
    else:
        d["controls"][1]["provider"]["arguments"]["profile"]["streams"][0]["rate"] = -5


@pytest.mark.parametrize(
    ("source", "which"),
    [("kill-half-dc-replicas.yaml", 0), ("az-latency-breaker.yaml", 1), ("redis-unreachable.yaml", 2)],
)
def test_chaos_run_refuses_malformed_experiment_with_nothing_injected(
    sandbox: dict[str, Any], tmp_path: Path, source: str, which: int
) -> None:
    chaos = shutil.which("chaos", path=str(Path(sys.executable).parent))
    assert chaos, "the chaos command is installed with chaostoolkit"
    path = _variant(tmp_path, source, lambda d: _malformed(d, which))
    before = _snapshot()
    journal = tmp_path / "journal.json"
    done = subprocess.run(
        [chaos, "--no-log-file", "run", "--journal-path", str(journal), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        cwd=tmp_path,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "invalid experiment" in done.stdout + done.stderr
    result = json.loads(journal.read_text())
    assert result["status"] == "interrupted"
    assert result["run"] == [] and result.get("steady_states", {}).get("before") is None
    assert _snapshot() == before
