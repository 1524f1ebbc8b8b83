"""Every experiment is a test: validated with `chaos validate`, and every sandbox
experiment run end to end with the real `chaos run` against the real sandbox, its
expected outcome read from the file and judged by the same rule drills use.

After each run the sandbox must be as it was: no toxics, every proxy enabled, every
defence on, no active fault in the ledger. A run that leaves anything behind fails.
"""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from chaos_run_support import CHAOS

from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.expectation import Status, expectation_of, outcome_of
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox import lifecycle

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = sorted((ROOT / "experiments" / "sandbox").glob("*.yaml"))
ALL = sorted((ROOT / "experiments").glob("**/*.yaml"))

pytestmark = [pytest.mark.experiments]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chaos_validate(path: Path, tmp_path: Path) -> None:
    # Kubernetes experiments read their kubeconfig from the environment; validation only
    # needs the variable to exist.
    env = {"KUBECONFIG": str(tmp_path / "kubeconfig"), **os.environ}
    proc = subprocess.run(
        [CHAOS, "--no-version-check", "validate", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "Experiment looks valid" in proc.stderr + proc.stdout
    expectation_of(yaml.safe_load(path.read_text()), str(path))  # every experiment says what it expects


def assert_pristine(state: dict[str, Any]) -> None:
    proxies = ToxiproxyClient(state["toxiproxy"]["api"]).proxies()
    assert {n: p.toxics for n, p in proxies.items() if p.toxics} == {}
    assert [n for n, p in proxies.items() if not p.enabled] == []
    for dc, info in state["dcs"].items():
        defences = requests.get(f"{info['gateway']['url']}/admin/state", timeout=5).json()["defences"]
        assert all(defences.values()), f"{dc}: {defences}"
    # the negative controls' other switches: the autoscaler decides for every DC again, and
    # the edge health-checks every DC again
    assert requests.get(f"{state['autoscaler']['url']}/admin/state", timeout=5).json()["paused"] == []
    assert requests.get(f"{state['edge']['url']}/admin/health-checks", timeout=5).json()["stopped"] == []
    assert default_ledger().replay() == []


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", SANDBOX, ids=lambda p: p.stem)
def test_sandbox_experiment_ends_as_it_says(path: Path, sandbox: dict[str, Any], tmp_path: Path) -> None:
    expected = expectation_of(yaml.safe_load(path.read_text()), str(path)).status
    journal_path = tmp_path / "journal.json"
    env = dict(os.environ, CHAOSDRILL_RUN_DIR=str(tmp_path / "run"))
    proc = subprocess.run(
        [CHAOS, "--no-version-check", "run", "--journal-path", str(journal_path), str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    journal = json.loads(journal_path.read_text())
    actual = outcome_of(journal)
    log = (
        (tmp_path / "chaostoolkit.log").read_text()
        if (tmp_path / "chaostoolkit.log").exists()
        else proc.stderr
    )
    assert actual is expected, f"{path.name}: expected {expected.value}, got {actual.value}\n{log[-4000:]}"
    # chaos exits 0 only for a completed run; a deviation (the negative control) or an
    # interruption (the guardrail) is exit 1, which is how chaosdrill reports it.
    assert proc.returncode == (0 if expected is Status.COMPLETED else 1)
    # The run recorded its measurements and faults in the journal.
    section = journal["chaosdrill"]
    assert Path(section["measurements"]).exists()
    assert section["faults"], "every sandbox experiment injects at least one fault"
    assert all(f["reverted_at"] is not None for f in section["faults"])
    assert_pristine(lifecycle.require_state())
