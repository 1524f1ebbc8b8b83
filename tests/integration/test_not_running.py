"""With no sandbox running, actions and probes fail with a message that says how to start
it, and nothing is recorded as injected."""

import subprocess
import sys
from pathlib import Path

import pytest

from actions import latency, pods, traffic
from chaosdrill.errors import NotRunning
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture()
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path))
    monkeypatch.delenv("CHAOSDRILL_MEASUREMENTS", raising=False)
    return tmp_path


def test_actions_say_how_to_start_the_sandbox(empty_home: Path) -> None:
    with pytest.raises(NotRunning, match="chaosdrill sandbox up"):
        latency.add_latency(100, dc="dc1")
    with pytest.raises(NotRunning, match="chaosdrill sandbox up"):
        pods.kill_pods("dc=dc1", count=1)
    with pytest.raises(NotRunning, match=r"chaosdrill\.controls\.load"):
        traffic.surge(5.0)
    assert default_ledger().history() == []


def test_status_and_recover_on_an_empty_home(empty_home: Path) -> None:
    cli = [sys.executable, "-m", "chaosdrill.cli"]
    status = subprocess.run([*cli, "sandbox", "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 1 and "sandbox: down" in status.stdout
    recover = subprocess.run([*cli, "recover"], capture_output=True, text=True, timeout=30)
    assert recover.returncode == 0 and "no active faults" in recover.stdout


def test_bad_cli_argument_exits_2_naming_it(empty_home: Path) -> None:
    cli = [sys.executable, "-m", "chaosdrill.cli"]
    proc = subprocess.run([*cli, "sandbox", "up", "--topology"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--topology" in proc.stderr and "Traceback" not in proc.stderr
    bad = empty_home / "topo.yaml"
    bad.write_text("gateway: {breaker: {enabled: maybe}}\n")
    proc = subprocess.run(
        [*cli, "sandbox", "up", "--topology", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert f"{bad}: gateway.breaker.enabled" in proc.stderr and "Traceback" not in proc.stderr
