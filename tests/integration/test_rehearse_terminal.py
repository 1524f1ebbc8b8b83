"""A GameDay through a real terminal: a scripted on-call drives ``chaosdrill rehearse`` in tmux
against the real sandbox (with its Prometheus and Alertmanager).

- The whole DC-loss runbook: keys d and m at known moments, a note, a skip, a ``do``
  confirmed with y, every check run. The record's time to detect and to mitigate (the
  on-call's) must match when the keys were sent, within 1 s: keys are read as they arrive
  (select on the pty), but tmux, the pty and a 2-core machine shared with other tests each
  add scheduling delay, so the tolerance is an order above the expected delay, not zero.
- A Ctrl-C (or a SIGTERM) in the middle of an AZ outage: the rehearsal rolls back, the ledger holds no
  active fault and the sandbox is whole.
- A ``kill -9`` in the middle: the fault stays active in the ledger, and ``chaosdrill
  recover`` reverts it.

Run under ``flock /tmp/chaosdrill-heavy.lock``: it starts the sandbox.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rehearsal_support import CHAOSDRILL, REPO, Tmux, assert_sandbox_clean, record_of

from chaosdrill import cli
from chaosdrill.commands.runbook import command_table
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

KEY_TOLERANCE_S = 1.0
REDIS_COMMANDS = {("sandbox", "redis", "status"), ("sandbox", "redis", "promote")}


def dc_loss_runbook(tmp_path: Path) -> Path:
    """``runbooks/dc-loss.md``; until the CLI has ``sandbox redis status|promote`` (the sandbox's
    Redis replication, another change), a copy without those two references, in a repository
    of its own whose experiments, monitoring rules and docs are the real ones."""
    shipped = REPO / "runbooks" / "dc-loss.md"
    if command_table(cli.build_parser()) >= REDIS_COMMANDS:
        return shipped
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "runbooks").mkdir()
    for name in ("experiments", "monitoring", "docs"):
        (root / name).symlink_to(REPO / name)
    text = shipped.read_text()
    block = (
        "    operations:\n"
        "      - command: chaosdrill sandbox redis status\n"
        "      - command: chaosdrill sandbox redis promote DC\n"
    )
    assert block in text
    text = text.replace(block, "")
    text = text.replace("`chaosdrill sandbox redis status`", "the replica's status").replace(
        "`chaosdrill sandbox redis promote DC`", "its promotion"
    )
    copy = root / "runbooks" / "dc-loss.md"
    copy.write_text(text)
    return copy


@pytest.fixture()
def term(tmp_path: Path) -> Any:
    sessions: list[Tmux] = []

    def start(runbook: Path, out: Path) -> Tmux:
        tmux = Tmux(
            f"{len(sessions)}",
            [CHAOSDRILL, "rehearse", str(runbook), "--out", str(out)],
            REPO,
            tmp_path / f"exit{len(sessions)}",
        )
        sessions.append(tmux)
        return tmux

    yield start
    for tmux in sessions:
        tmux.close()


def test_whole_gameday_records_the_keystrokes(sandbox: dict[str, Any], tmp_path: Path, term: Any) -> None:
    out = tmp_path / "out"
    tmux = term(dc_loss_runbook(tmp_path), out)
    tmux.wait_for("step 1/5  confirm-the-page", 90)
    time.sleep(2.0)
    detected_at = tmux.keys("d")
    tmux.wait_for("detected: +", 5)
    tmux.keys("Enter")  # the alert check: waits for the page, up to 10 s
    tmux.wait_for("step 2/5  confirm-cells-moved", 30)
    time.sleep(1.0)
    mitigated_at = tmux.keys("m")
    tmux.wait_for("mitigated: +", 5)
    tmux.keys("Enter")
    tmux.wait_for("step 3/5  promote-session-redis", 30)
    tmux.keys("n")
    tmux.wait_for("note:", 5)
    tmux.keys("-l", "replica promoted by hand")
    tmux.keys("Enter")
    tmux.wait_for("notes: 1", 5)
    tmux.keys("s")
    tmux.wait_for("step 4/5  verify-survivors", 10)
    tmux.keys("Enter")
    tmux.wait_for("step 5/5  fail-back", 30)
    tmux.keys("Enter")
    tmux.wait_for("[y/N]", 5)
    tmux.keys("y")
    rc = tmux.exit_code(60)

    record = record_of(out)
    fault_at = record["fault_at"]
    assert record["mode"] == "interactive"
    assert abs(record["ttd_oncall_s"] - (detected_at - fault_at)) <= KEY_TOLERANCE_S, (record, detected_at)
    assert abs(record["ttm_oncall_s"] - (mitigated_at - fault_at)) <= KEY_TOLERANCE_S, (record, mitigated_at)
    assert record["ttm_s"] == record["ttm_oncall_s"] and record["mitigated_by"] == "on-call"
    if record["ttd_alert_s"] is not None:  # the sandbox's Alertmanager saw the page: that is the TTD
        assert record["ttd_s"] == record["ttd_alert_s"] and record["detected_by"].startswith("alert ")
        assert 0 <= record["ttd_alert_s"] < record["ttd_oncall_s"] + 15
    else:
        assert record["ttd_s"] == record["ttd_oncall_s"] and record["detected_by"] == "on-call"
    outcomes = [s["outcome"] for s in record["steps"]]
    assert outcomes[2] == "skipped"
    assert all(o in ("passed", "failed") for i, o in enumerate(outcomes) if i != 2), outcomes
    assert record["steps"][4]["do"]["ok"] is True  # y ran dc_failover_rollback
    assert [n["text"] for n in record["notes"]] == ["replica promoted by hand"]
    assert record["notes"][0]["step"] == "promote-session-redis"
    assert record["status"] == ("passed" if "failed" not in outcomes else "failed")
    assert rc == (0 if record["status"] == "passed" else 1)
    assert record["left_active"] == []
    assert record["slo"]["completed"] > 0 and record["slo"]["good_ratio"] is not None
    assert (out / "rehearsal.md").read_text().startswith("# Rehearsal: A data center is lost")
    assert_sandbox_clean()


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_interrupt_mid_rehearsal_leaves_no_fault(
    sandbox: dict[str, Any], tmp_path: Path, term: Any, how: str
) -> None:
    out = tmp_path / "out"
    tmux = term(REPO / "runbooks" / "az-outage.md", out)
    tmux.wait_for("step 1/3  confirm-scope", 90)
    time.sleep(1.0)
    if how == "Ctrl-C":
        tmux.keys("C-c")
    else:
        (fault,) = default_ledger().replay()
        os.kill(fault.pid, signal.SIGTERM)
    rc = tmux.exit_code(60)
    record = record_of(out)
    assert rc == 1
    assert record["status"] == "aborted" and record["reason"] == how
    assert record["rollback"]["swept"]["reverted"], "the sweep reverted the zone outage"
    assert record["left_active"] == []
    assert_sandbox_clean()


def test_tmux_is_installed() -> None:
    assert shutil.which("tmux"), "ci/setup.sh installs tmux for these tests"


def test_kill_9_mid_rehearsal_then_recover(sandbox: dict[str, Any], tmp_path: Path, term: Any) -> None:
    """A crash leaves the fault in the ledger as active; `chaosdrill recover` reverts it."""
    tmux = term(REPO / "runbooks" / "az-outage.md", tmp_path / "out")
    tmux.wait_for("step 1/3  confirm-scope", 90)
    active = default_ledger().replay()
    assert len(active) == 1 and active[0].kind == "zone_outage"
    os.kill(active[0].pid, signal.SIGKILL)
    assert tmux.exit_code(30) == 128 + signal.SIGKILL
    assert [f.id for f in default_ledger().replay()] == [active[0].id], "the crash left it active"
    done = subprocess.run([CHAOSDRILL, "recover"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reverted 1, failed 0" in done.stdout
    assert_sandbox_clean()
