"""Every experiment in experiments/kubernetes/, run with `chaos run` against the local cluster.

Each file states its expected outcome in ``extensions[chaosdrill].expect``; the run must
exit as that outcome implies and the journal must match it. Afterwards the ledger holds
no active fault and the service is back at full strength.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_run_support import chaos_run
from k8s_support import REPO, SERVICE_PODS, Cluster, wait_ready

from chaosdrill.ledger import Ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.experiments, pytest.mark.slow, pytest.mark.timeout(900)]

EXPERIMENTS = sorted((REPO / "experiments" / "kubernetes").glob("*.yaml"))


def _expectation(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    [ext] = [e for e in doc.get("extensions") or [] if e.get("name") == "chaosdrill"]
    expect: dict[str, Any] = ext["expect"]
    return expect


def test_there_is_an_experiment_per_scenario() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {"pod-kill", "zone-outage", "hpa-scale-up", "dc-failover"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_validates(path: Path, tmp_path: Path) -> None:
    chaos = Path(sys.executable).parent / "chaos"
    proc = subprocess.run(
        [str(chaos), "--no-log-file", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_runs_to_its_expected_outcome(path: Path, service: Cluster, tmp_path: Path) -> None:
    expect = _expectation(path)
    home = tmp_path / "home"
    env = {**service.env(), "CHAOSDRILL_HOME": str(home)}
    env.pop("CHAOSDRILL_RUN_ID", None)
    run = chaos_run(path, tmp_path, env, timeout_s=840)
    assert run.journal["status"] == expect["status"], run.log
    assert run.journal["deviated"] is expect["deviated"], run.log
    expected_rc = 0 if expect["status"] == "completed" and not expect["deviated"] else 1
    assert run.proc.returncode == expected_rc, run.proc.stdout[-3000:] + run.proc.stderr[-3000:]
    assert Ledger(home / "ledger.jsonl").active() == []
    wait_ready(service, "app=llm-api", SERVICE_PODS, timeout_s=180)
