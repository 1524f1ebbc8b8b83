"""A failure inside the method must not let a run pass: chaoslib alone ends such a run
`completed` with exit 0. With the ledger control, a failed probe marks it deviated and a
failed action marks it failed; both exit 1."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_run_support import CHAOS, LEDGER_CONTROL

from chaosdrill import runctx
from chaosdrill.controls.ledger import judge_method

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def experiment(method: list[dict[str, Any]], with_ledger: bool = True) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "method failure",
        "description": "a method activity fails",
        "configuration": {"chaosdrill_target": "sandbox"},
        "extensions": [{"name": "chaosdrill", "expect": {"status": "completed"}}],
        "controls": [LEDGER_CONTROL] if with_ledger else [],
        "method": method,
    }


FAILING_PROBE = {
    "type": "probe",
    "name": "availability-without-load",
    "provider": {"type": "python", "module": "probes.slo", "func": "availability_at_least"},
}
FAILING_ACTION = {
    "type": "action",
    "name": "latency-without-sandbox",
    "provider": {
        "type": "python",
        "module": "actions.latency",
        "func": "add_latency",
        "arguments": {"latency_ms": 100},
    },
}


def _outside_any_run() -> dict[str, str]:
    """This process's environment without a run context an earlier test may have left (its
    measurements would let the load-less probe pass)."""
    context = {runctx.RUN_ID_ENV, runctx.PHASE_ENV, runctx.MEASUREMENTS_ENV, runctx.RUN_DIR_ENV}
    return {k: v for k, v in os.environ.items() if k not in context}


def run(tmp_path: Path, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.run(
        [CHAOS, "--no-version-check", "run", "--journal-path", str(tmp_path / "journal.json"), str(path)],
        cwd=tmp_path,
        env={**_outside_any_run(), "CHAOSDRILL_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=100,
    )
    return proc.returncode, json.loads((tmp_path / "journal.json").read_text())


def test_plain_chaoslib_lets_a_failed_method_probe_pass(tmp_path: Path) -> None:
    rc, journal = run(tmp_path, experiment([FAILING_PROBE], with_ledger=False))
    assert rc == 0 and journal["status"] == "completed" and not journal["deviated"]


def test_failed_method_probe_is_a_deviation(tmp_path: Path) -> None:
    rc, journal = run(tmp_path, experiment([FAILING_PROBE]))
    assert rc == 1 and journal["deviated"] is True
    assert journal["chaosdrill"]["method_failures"]["probes"] == ["availability-without-load"]


def test_failed_method_action_fails_the_run(tmp_path: Path) -> None:
    rc, journal = run(tmp_path, experiment([FAILING_ACTION]))
    assert rc == 1 and journal["status"] == "failed"
    assert journal["chaosdrill"]["method_failures"]["actions"] == ["latency-without-sandbox"]


def test_judge_leaves_interrupted_runs_alone() -> None:
    journal = {
        "status": "interrupted",
        "deviated": False,
        "run": [{"status": "failed", "activity": FAILING_PROBE}],
    }
    assert judge_method(journal)["probes"] == ["availability-without-load"]
    assert journal["status"] == "interrupted" and journal["deviated"] is False
