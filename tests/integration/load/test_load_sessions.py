"""The real load worker against a real HTTP service that speaks the session contract and loses
a DC (tests/session_service.py): the load must find exactly the acknowledged writes the service
lost, count answers per home cell and serving DC, and the recovery-objective probes must pass
or fail on what it measured."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed
from fault_support import inject_fault, revert_fault
from session_service import SessionServer, serve

from chaosdrill.load import control
from chaosdrill.load import measurements as m
from chaosdrill.load import objectives as obj
from chaosdrill.load.profile import SANDBOX_TRACKING, parse_profile
from probes import recovery_objectives as ro

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TRACKING = {k: v for k, v in vars(SANDBOX_TRACKING).items() if v is not None}


@pytest.fixture
def service() -> Iterator[SessionServer]:
    with serve() as server:
        yield server


def _profile(url: str, duration_s: float) -> Any:
    return parse_profile(
        {
            "url": f"{url}/v1/generate",
            "duration_s": duration_s,
            "window_s": 0.25,
            "tracking": TRACKING,
            "streams": [
                {"name": "sessions", "rate": 200, "users": 30, "session": True},
                {"name": "plain", "rate": 60, "users": 50},
            ],
        }
    )


def _run_outage(
    server: SessionServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    lose_last: int,
    resync: bool,
    failback_after_s: float = 1.0,
) -> Path:
    """Load for 6 s; dc2 is lost at 1.5 s (0.6 s of 503s, then served by dc3 without its cell's
    last ``lose_last`` writes) and back at 3.5 s (home again ``failback_after_s`` later)."""
    handle = control.start(_profile(server.url, 6.0), tmp_path / "out")
    time.sleep(1.5)
    fault = inject_fault(monkeypatch, tmp_path / "home", kind="dc_failover", description="dc2 lost")
    server.call("lose_dc", "dc2", lose_last, 0.6)
    time.sleep(2.0)
    server.call("recover_dc", "dc2", failback_after_s, resync)
    revert_fault(fault)
    assert handle.wait(30), "the worker did not stop at duration_s"
    monkeypatch.setenv("CHAOSDRILL_MEASUREMENTS", str(handle.measurements))
    return handle.measurements


def _lost(windows: list[m.Window]) -> set[tuple[str, int]]:
    return {
        (r.user, r.seq)
        for w in windows
        for s in w.streams.values()
        if s.session
        for r in s.session.lost_writes
    }


def test_a_dc_loss_is_measured_as_users_saw_it(
    service: SessionServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measurements = _run_outage(service, tmp_path, monkeypatch, lose_last=6, resync=True)
    windows = m.read_windows(measurements)
    svc = service.service

    # Exactly the writes the service lost, found by the read-backs before the users wrote again.
    assert len(svc.lost) == 6
    assert _lost(windows) == set(svc.lost)
    found = obj.lost_writes(windows)
    assert found.lost == 6 and found.acked == svc.acked
    assert {r.cell for r in found.rows} == {"dc2"} and {r.acked_by for r in found.rows} == {"dc2"}

    # Every answer is placed: per home cell and serving DC, with dc2's cell served by dc3 meanwhile.
    cells = obj.cells_seen(windows)
    assert cells == {"dc1", "dc2", "dc3"}
    served = obj.cell_series(windows, ["dc2"])
    assert any(p.served_by.get("dc3") for p in served) and any(p.served_by.get("dc2") for p in served)
    assert obj.home_cells_of(windows, "dc2", windows[0].t0 + 1.0) == ["dc2"]
    total = sum(o.ok + o.error for w in windows for s in w.streams.values() for o in s.cells.values())
    assert total == sum(s.completed for w in windows for s in w.streams.values())
    assert (tmp_path / "out" / "sessions.json").exists()

    rto = ro.rto_within("dc2", max_rto_s=5.0, consecutive=2)
    assert 0.25 <= rto["rto_s"] <= 1.5, rto  # 0.6 s of 503s, then the survivor serves
    assert rto["dips_after_recovery"] == 0 and rto["worst_ratio"] == 0.0, rto
    with pytest.raises(ActivityFailed, match="beyond the RTO"):
        ro.rto_within("dc2", max_rto_s=0.2, consecutive=2)

    rpo = ro.rpo_within(max_lost_writes=6, max_rpo_s=5.0, verify=False)
    assert rpo["rpo_writes"] == 6 and 0 < rpo["rpo_s"] < 1.0, rpo
    with pytest.raises(ActivityFailed, match="6 acknowledged writes lost"):
        ro.rpo_within(max_lost_writes=5, max_rpo_s=5.0, verify=False)

    cells_ok = ro.unaffected_cells_keep_slo("dc2", target=0.999)
    assert set(cells_ok["cells"]) == {"dc1", "dc3"}
    with pytest.raises(ActivityFailed, match="not affected"):
        ro.unaffected_cells_keep_slo("dc2", cells=["dc1"], target=0.999)

    back = ro.failback_after("dc2", failback_after_s=0.75, max_failback_rto_s=2.0, consecutive=2)
    assert 0.75 <= back["failback_s"] <= 1.5 and back["lost_writes_on_the_way_back"] == 0, back
    assert back["back_by"] == "the fault's revert", back
    with pytest.raises(ActivityFailed, match="went home before"):
        ro.failback_after("dc2", failback_after_s=1.75, max_failback_rto_s=2.0, consecutive=2)


def test_writes_acknowledged_during_the_failover_and_lost_on_the_way_back_fail_the_failback(
    service: SessionServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measurements = _run_outage(service, tmp_path, monkeypatch, lose_last=0, resync=False)
    svc = service.service
    assert svc.lost, "the service lost the failover's writes"
    with pytest.raises(ActivityFailed, match=r"lost \d+ writes acknowledged during the failover") as e:
        ro.failback_after("dc2", failback_after_s=0.75, max_failback_rto_s=2.0, consecutive=2)
    assert "'lost_writes_on_the_way_back': " in str(e.value)
    windows = m.read_windows(measurements)
    found = _lost(windows)
    # The first writes that reach the old store hide their users' losses (measured: 4 of 44);
    # every other user of the cell is read back before writing again.
    assert found <= set(svc.lost) and len(found) >= 0.75 * len(svc.lost), (len(found), len(svc.lost))
    assert {r.acked_by for r in obj.lost_writes(windows).rows} == {"dc3"}


def test_the_load_control_tracks_cells_and_sessions_by_the_sandbox_contract(
    service: SessionServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaosdrill.controls import load as load_control

    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAOSDRILL_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("CHAOSDRILL_MEASUREMENTS", "")
    state: dict[str, Any] = {}
    try:
        load_control.before_experiment_control(
            None,
            profile={
                "window_s": 0.5,
                "streams": [{"name": "sessions", "rate": 80, "users": 20, "session": True}],
            },
            warmup_s=1.5,
            max_duration_s=30,
            url=f"{service.url}/v1/generate",
            configuration={"chaosdrill_target": "sandbox"},
        )
    finally:
        load_control.after_experiment_control(None, state=state)
    measurements = Path(state["chaosdrill"]["measurements"])
    assert m.read_meta(measurements)["tracking"] == TRACKING
    windows = m.read_windows(measurements)
    assert obj.cells_seen(windows) == {"dc1", "dc2", "dc3"}
    found = obj.lost_writes(windows)
    assert found.acked == service.service.acked > 0 and found.lost == 0
    # The end-of-run read-back judged every user that had written.
    assert found.reads >= len({u for cell in service.service.cells.values() for u in cell.store})


def test_a_silent_loss_is_found_by_the_verifying_read_back(
    service: SessionServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store rolled back with no error and no DC change marks no one: only the RPO probe's
    verification reads every user back before its next write (each writes every 3 s here)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CHAOSDRILL_HOME", str(home))
    profile = parse_profile(
        {
            "url": f"{service.url}/v1/generate",
            "duration_s": 20.0,
            "window_s": 0.25,
            "tracking": TRACKING,
            "streams": [{"name": "sessions", "rate": 10, "users": 30, "session": True}],
        }
    )
    handle = control.start(profile, tmp_path / "out")
    try:
        time.sleep(3.5)  # every user has written
        inject_fault(monkeypatch, home, kind="dc_failover", description="dc1 rolled back")
        monkeypatch.setenv("CHAOSDRILL_MEASUREMENTS", str(handle.measurements))
        service.call("roll_back", "dc1", 3)
        lost = set(service.service.lost)
        assert len(lost) == 3
        assert ro.rpo_within(max_lost_writes=0, verify=False)["rpo_writes"] == 0, "nothing marked anyone"
        with pytest.raises(ActivityFailed, match="3 acknowledged writes lost") as e:
            ro.rpo_within(max_lost_writes=0, max_rpo_s=60.0, verify=True)
        assert "'verified': True" in str(e.value) and "'pending_reads': 0" in str(e.value)
    finally:
        handle.stop()
    assert _lost(m.read_windows(handle.measurements)) == lost
