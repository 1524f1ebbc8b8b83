"""``chaosdrill rehearse --auto`` against the real sandbox: its exit codes, its record, and a
drill plan's ``rehearsals:`` run inside ``drill run``.

- 0: the shipped Redis-latency runbook, every check and do passes;
- 1: the same fault with a check no healthy system passes (p50 under 1 ms);
- 2: a fault the blast-radius check refuses (a DC the experiment does not allow), and a
  configuration file that is not a mapping: refused, nothing left injected.

Each run must leave the ledger with no active fault. Run under
``flock /tmp/chaosdrill-heavy.lock``: it starts the sandbox.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rehearsal_support import CHAOSDRILL, REPO, assert_sandbox_clean

from chaosdrill.ledger import default_ledger
from chaosdrill.rehearsal.auto import rehearse_auto
from chaosdrill.rehearsal.record import Status

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

SHIPPED = REPO / "runbooks" / "redis-latency.md"


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """The Redis-latency runbook with one change, in a repository of its own (real experiments
    and monitoring rules)."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "runbooks").mkdir(exist_ok=True)
    for name in ("experiments", "monitoring", "docs"):
        if not (root / name).exists():
            (root / name).symlink_to(REPO / name)
    text = SHIPPED.read_text()
    assert old in text
    path = root / "runbooks" / "variant.md"
    path.write_text(text.replace(old, new))
    return path


def rehearse(runbook: Path, out: Path, *extra: str) -> int:
    done = subprocess.run(
        [CHAOSDRILL, "rehearse", str(runbook), "--auto", "--out", str(out), "--check-wait", "3", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    print(done.stdout, done.stderr)
    return done.returncode


def record(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "rehearsal.json").read_text())
    return data


def test_exit_0_when_every_check_passes(sandbox: dict[str, Any], tmp_path: Path) -> None:
    assert rehearse(SHIPPED, tmp_path) == 0
    r = record(tmp_path)
    assert r["status"] == "passed" and r["mode"] == "auto"
    assert [s["outcome"] for s in r["steps"]] == ["passed", "passed", "passed"]
    assert r["steps"][2]["do"]["ok"] is True
    assert r["ttd_s"] is not None and r["ttm_s"] is not None and r["ttd_s"] >= 0
    assert r["faults"] and "actions.latency.add_latency" in r["faults"][0]
    assert r["left_active"] == [] and default_ledger().replay() == []
    assert_sandbox_clean()


def test_exit_1_when_a_check_fails(sandbox: dict[str, Any], tmp_path: Path) -> None:
    runbook = variant(
        tmp_path, "arguments: {percentile: 99, max_ms: 500}", "arguments: {percentile: 50, max_ms: 1}"
    )
    out = tmp_path / "out"
    assert rehearse(runbook, out) == 1
    r = record(out)
    assert r["status"] == "failed"
    steps = {s["name"]: s for s in r["steps"]}
    assert steps["confirm-users-unaffected"]["outcome"] == "failed"
    assert steps["confirm-users-unaffected"]["check"]["attempts"] >= 2  # retried for --check-wait
    assert r["ttm_s"] is None  # the step marked "mitigated" never passed
    assert r["left_active"] == [] and default_ledger().replay() == []


def test_exit_2_when_the_fault_is_refused(sandbox: dict[str, Any], tmp_path: Path) -> None:
    # redis-unreachable.yaml allows dc1 only: a fault on dc3 is out of the blast radius.
    runbook = variant(
        tmp_path,
        "arguments: {dc: dc1, link: redis, latency_ms: 400}",
        "arguments: {dc: dc3, link: redis, latency_ms: 400}",
    )
    before = len(default_ledger().history())
    out = tmp_path / "out"
    assert rehearse(runbook, out) == 2
    r = record(out)
    assert r["status"] == "refused" and "dc3" in r["reason"]
    assert len(default_ledger().history()) == before, "nothing was recorded, so nothing was injected"
    bad_vars = tmp_path / "vars.yaml"
    bad_vars.write_text("configuration: [1, 2]\n")
    assert rehearse(SHIPPED, tmp_path / "out2", "--var-file", str(bad_vars)) == 2
    assert default_ledger().replay() == []


def test_python_api(sandbox: dict[str, Any], tmp_path: Path) -> None:
    found = rehearse_auto(
        SHIPPED, out_dir=tmp_path, configuration={"slo_availability": 0.995}, check_wait_s=3
    )
    assert found.status is Status.PASSED and found.exit_code == 0
    assert found.runbook == str(SHIPPED) and found.started_at <= (found.fault_at or 0)
    assert len(found.steps) == 3 and found.notes == []
    assert found.ttd_s is not None and found.ttm_s is not None
    assert default_ledger().replay() == []


def test_drill_plan_runs_its_rehearsals(sandbox: dict[str, Any], tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "name": "rehearsal-only",
                "target": "sandbox",
                "schedule": "0 3 1 * *",
                "root": str(REPO),
                "experiments": ["experiments/sandbox/redis-unreachable.yaml"],
                "rehearsals": ["runbooks/redis-latency.md"],
            }
        )
    )
    out = tmp_path / "drill"
    done = subprocess.run(
        [CHAOSDRILL, "drill", "run", str(plan), "--out", str(out), "--no-sandbox"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = json.loads((out / "rehearsals.json").read_text())
    assert [r["status"] for r in records] == ["passed"] and records[0]["exit_code"] == 0
    assert (out / "rehearsals" / "redis-latency" / "rehearsal.md").is_file()
    assert "rehearsal " in done.stdout and "TTD" in done.stdout
    assert default_ledger().replay() == []
