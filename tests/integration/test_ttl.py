"""Fault TTLs: the detached watchdog reverts an expired fault even after the runner is SIGKILLed.

The watchdog is a real process started by ``inject``; these tests only observe it from the
outside (toxiproxy's toxics, the ledger, the watchdog's lock).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chaosdrill import watchdog
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.faults import record_and_apply as inject
from chaosdrill.ledger import Fault, Ledger, default_ledger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CHILD = """
import sys, time
from actions.latency import add_latency
out = add_latency(200, dc="dc2", az="az-a", ttl_s=2.0)
print(out["fault_id"], flush=True)
time.sleep(120)
"""


def _wait_for(cond: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step_s)
    return bool(cond())


def _toxic_proxies(api: str, toxic: str) -> list[str]:
    client = ToxiproxyClient(api)
    return [name for name, p in client.proxies().items() if any(t.get("name") == toxic for t in p.toxics)]


def test_ttl_reverts_a_latency_toxic_after_the_runner_is_sigkilled(sandbox: dict[str, Any]) -> None:
    api = sandbox["toxiproxy"]["api"]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert child.stdout is not None
        fault_id = child.stdout.readline().strip()
        assert fault_id, child.stderr.read() if child.stderr else ""
        assert _toxic_proxies(api, "chaosdrill-latency"), "the toxic must be in place before the kill"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    record = next(r for r in default_ledger().history() if r.fault.id == fault_id)
    assert record.fault.ttl_s == 2.0
    expires = record.fault.at + 2.0
    assert _wait_for(
        lambda: not _toxic_proxies(api, "chaosdrill-latency"), timeout_s=expires + 3.0 - time.time()
    )
    gone_at = time.time()
    # Removed when the TTL ran out (0.5 s poll; margin for a loaded machine), not before it.
    assert expires - 0.05 <= gone_at <= expires + 2.0, gone_at - expires
    record = next(r for r in default_ledger().history() if r.fault.id == fault_id)
    assert record.how == "ttl"
    assert record.reverted_at is not None and record.reverted_at >= expires
    # Nothing left to watch: the watchdog goes away by itself.
    assert _wait_for(lambda: not watchdog.is_running(), timeout_s=5.0)


def test_one_watchdog_per_ledger_and_it_exits_when_done(tmp_path: Path) -> None:
    """A harmless load fault (its worker does not exist, so its revert is a no-op) in a private ledger."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    faults = [
        Fault(kind="surge", target="sandbox", key=f"surge:test-{i}", description="test", undo={}, ttl_s=ttl)
        for i, ttl in enumerate((0.5, 1.5))
    ]
    for f in faults:
        inject(f, lambda: None, ledger=ledger)
    assert watchdog.is_running(tmp_path)
    assert watchdog.ensure_running(ledger.path) is False, "a second watchdog must not start"
    assert _wait_for(lambda: not ledger.active(), timeout_s=4.0)
    hows = {r.fault.id: r.how for r in ledger.history()}
    assert hows == {f.id: "ttl" for f in faults}
    for r in ledger.history():
        assert r.reverted_at is not None and r.reverted_at >= r.fault.at + (r.fault.ttl_s or 0)
    assert _wait_for(lambda: not watchdog.is_running(tmp_path), timeout_s=3.0)


def test_a_fault_without_ttl_starts_no_watchdog(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    inject(
        Fault(kind="surge", target="sandbox", key="surge:x", description="t", undo={}),
        lambda: None,
        ledger=ledger,
    )
    assert not watchdog.is_running(tmp_path)
    assert not (tmp_path / "watchdog.log").exists()
