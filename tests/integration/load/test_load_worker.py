"""The load worker against the contract stub: classification, control API, stopping, surges."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.errors import ChaosdrillError, NotRunning
from chaosdrill.load import control
from chaosdrill.load import measurements as m
from chaosdrill.load.profile import Profile, parse_profile
from chaosdrill.load.stub import MIX

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

Stub = tuple[str, "subprocess.Popen[str]"]


def _profile(url: str, **over: Any) -> Profile:
    data: dict[str, Any] = {
        "url": url,
        "duration_s": 30,
        "window_s": 0.5,
        "streams": [{"name": "chat", "tenant": "acme", "rate": 50, "users": 10}],
    }
    data.update(over)
    return parse_profile(data)


def _wait_until(pred: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_outcome_is_classified(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, _ = stub
    profile = _profile(
        f"{url}/mix",
        max_requests=len(MIX) * 30,
        streams=[
            {"name": "chat", "tenant": "acme", "rate": 150, "users": len(MIX)},
            {"name": "bulk", "tenant": "beta", "priority": "batch", "rate": 150, "users": len(MIX)},
        ],
    )
    handle = control.start(profile, tmp_path / "out")
    assert handle.wait(30), "the worker did not stop at max_requests"
    windows = m.read_windows(handle.measurements)
    total = m.aggregate(windows)
    assert total.sent == total.completed == len(MIX) * 30
    per_stream = {name: m.aggregate(windows, streams=[name]) for name in ("chat", "bulk")}
    for s in per_stream.values():
        n = s.completed // len(MIX)
        assert s.completed == n * len(MIX), "round-robin users give each behaviour the same share"
        assert s.ok == n
        assert s.degraded == 3 * n  # cache, busy, malformed
        assert s.degraded_malformed == n
        assert s.rejected == 2 * n
        assert s.rejected_without_retry_after == n
        assert s.errors == {"503": n, "500": n, "502": n, "reset": n}
    assert m.aggregate(windows, tenants=["beta"]).completed == per_stream["bulk"].completed
    meta = m.read_meta(handle.measurements)
    assert meta["streams"][1]["priority"] == "batch" and meta["window_s"] == 0.5


def test_control_api_surge_and_stop(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, _ = stub
    profile = _profile(
        f"{url}/ok",
        streams=[
            {"name": "chat", "rate": 40},
            {"name": "bulk", "rate": 10, "priority": "batch"},
        ],
    )
    handle = control.start(profile, tmp_path / "out")
    try:
        found = control.current()
        assert found is not None and found.pid == handle.pid
        status = handle.status()
        assert status["state"] == "running" and status["streams"]["chat"]["target_rate"] == 40
        time.sleep(1.5)
        surged_at = time.time()
        result = control.set_factor("ch*", 5)
        assert result["matched"] == ["chat"] and result["target_rates"] == {"chat": 200.0, "bulk": 10.0}
        time.sleep(2.0)
        with pytest.raises(ChaosdrillError):
            handle.set_factor("nothing-*", 2)
    finally:
        handle.stop()
    assert not handle.alive()
    assert control.current() is None
    assert json.loads((tmp_path / "out" / "load.json").read_text())["state"] == "finished"
    windows = m.read_windows(handle.measurements)
    before = m.aggregate(windows, until=surged_at - 0.5, streams=["chat"])
    after = m.aggregate(windows, since=surged_at + 0.5, streams=["chat"])
    rate_before = before.sent / before.duration_s
    rate_after = after.sent / after.duration_s
    assert rate_after > 3 * rate_before, (rate_before, rate_after)
    assert windows[-1].streams["chat"].target_rate == 200.0
    assert m.aggregate(windows, streams=["bulk"]).error == 0


def test_sigterm_flushes_the_last_partial_window(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, _ = stub
    handle = control.start(_profile(f"{url}/ok", window_s=30), tmp_path / "out")
    time.sleep(1.0)
    os.kill(handle.pid, signal.SIGTERM)
    assert handle.wait(10)
    windows = m.read_windows(handle.measurements)
    assert len(windows) == 1
    (w,) = windows
    assert w.t1 - w.t0 < 30
    assert w.streams["chat"].ok > 0
    assert control.current() is None


def test_worker_dies_with_its_parent(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, _ = stub
    out = tmp_path / "out"
    profile_file = tmp_path / "profile.json"
    profile_file.write_text(json.dumps(_profile(f"{url}/ok").to_dict()))
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from chaosdrill.load import control
        from chaosdrill.load.profile import load_profile
        h = control.start(load_profile(Path({str(profile_file)!r})), Path({str(out)!r}))
        print(h.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        time.sleep(0.5)
        parent.kill()
        parent.wait(10)
        handle = control.read_handle(out / "load.json")
        _wait_until(lambda: not handle.alive(), 10, "the worker to exit after its parent died")
    finally:
        if parent.poll() is None:
            parent.kill()
    assert worker_pid == handle.pid
    # It was SIGTERMed, so it flushed what it had.
    assert m.aggregate(m.read_windows(out / "measurements.jsonl")).ok > 0


def test_no_coordinated_omission_when_the_server_stalls(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, proc = stub
    handle = control.start(_profile(f"{url}/ok", duration_s=3, window_s=1.0), tmp_path / "out")
    try:
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGCONT)
        assert handle.wait(30)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        handle.stop()
    total = m.aggregate(m.read_windows(handle.measurements))
    # The schedule did not slow down while the server was stopped...
    assert total.sent == 150
    assert total.completed == 150 and total.ok == 150
    # ...and the requests scheduled during the stall carry the stall in their latency.
    p99 = total.percentile(99)
    assert p99 is not None and p99 >= 0.9


def test_timeouts_and_refused_connections(stub: Stub, chaos_home: Path, tmp_path: Path) -> None:
    url, _ = stub
    slow = _profile(f"{url}/slow?ms=3000", duration_s=1, timeout_s=0.3)
    handle = control.start(slow, tmp_path / "slow")
    assert handle.wait(20)
    s = m.aggregate(m.read_windows(handle.measurements))
    assert s.completed == s.sent == 50 and s.errors == {"timeout": 50}
    p50 = s.percentile(50)
    assert p50 is not None and 0.3 <= p50 < 1.0

    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handle = control.start(_profile(f"http://127.0.0.1:{port}/x", duration_s=0.5), tmp_path / "refused")
    assert handle.wait(20)
    s = m.aggregate(m.read_windows(handle.measurements))
    assert s.errors == {"refused": s.completed} and s.completed == 25


def test_set_factor_without_a_load(chaos_home: Path) -> None:
    assert control.current() is None
    with pytest.raises(NotRunning):
        control.set_factor("*", 2)


def test_worker_that_cannot_start_reports_why(chaos_home: Path, tmp_path: Path) -> None:
    profile = _profile("http://no-such-host.invalid/x", duration_s=1)
    with pytest.raises(ChaosdrillError, match="no-such-host"):
        control.start(profile, tmp_path / "out")
