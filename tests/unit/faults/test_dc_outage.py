"""The sandbox's whole-DC outage (dc_failover) and replica promotion (replica_promotion),
through the engine against the fake sandbox: what is refused before anything is recorded,
what the outage asks the supervisor and edge for, and how the undo fails back."""

from pathlib import Path

import pytest
from fakes.sandbox_api import EDGE_URL, SUPERVISOR_API, FakeClock, FakeDrivers, FakeSandbox

from chaosdrill.drivers.kube import client as kube_client
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.faults.kinds import datacenters
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The outage's waits run on a clock that sleeping advances."""
    fake_time = FakeClock()
    monkeypatch.setattr(kube_client, "time", fake_time)
    monkeypatch.setattr(datacenters, "time", fake_time)
    return fake_time


def writes(fake: FakeSandbox) -> list[tuple[str, object]]:
    return [(c.url, c.body) for c in fake.writes]


def test_plan_records_the_primaries_and_touches_nothing(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    plan = engine.plan("dc_failover", CONF, {"dc": "dc2", "failback_after_s": 3}, drivers)

    assert plan.undo == {
        "instance": "fake-instance-1",
        "api": SUPERVISOR_API,
        "dc": "dc2",
        "edge": EDGE_URL,
        "primaries": {"dc1": "dc1", "dc2": "dc2"},
        "failback_after_s": 3.0,
        "sync_timeout_s": 30.0,
    }
    assert plan.key == "dc_outage:dc2" and plan.dcs == ("dc2",)
    assert any("promote its replica in dc1" in t for t in plan.touches)
    assert fake.writes == []


def test_outage_loses_the_whole_dc_and_promotes_its_replica(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    pids = fake.dc_pids("dc2")

    result = inject("dc_failover", {"dc": "dc2"}, drivers, ledger)

    assert writes(fake) == [
        (f"{SUPERVISOR_API}/dc", {"dc": "dc2", "up": False}),
        (f"{SUPERVISOR_API}/sessions/promote", {"dc": "dc2", "reason": "dc_failover"}),
    ]
    assert sorted(result["killed"]) == sorted(pids) and not any(fake.alive(p) for p in pids)
    assert result["promoted"]["to"] == "dc1" and fake.primary("dc2") == "dc1"
    assert fake.primary("dc1") == "dc1"  # dc1's own state lost only its replica
    assert result["lag_at_outage"] == {"bytes": 0, "s": 0.0}
    (record,) = ledger.history()
    assert (record.fault.kind, record.reverted_at) == ("dc_failover", None)
    assert record.fault.undo["primaries"] == {"dc1": "dc1", "dc2": "dc2"}


def test_without_promote_the_state_stays_where_it_was(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    result = inject("dc_failover", {"dc": "dc2", "promote": False}, drivers, ledger)

    assert result["promoted"] is None and fake.primary("dc2") == "dc2"
    assert [u for u, _ in writes(fake)] == [f"{SUPERVISOR_API}/dc"]


def test_rollback_holds_the_cells_until_healthy_then_restores_primaries_then_fails_back(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, clock: FakeClock
) -> None:
    inject("dc_failover", {"dc": "dc2", "failback_after_s": 4}, drivers, ledger)
    fake.calls.clear()
    slept_before = clock.slept

    out = engine.remove("dc_failover", CONF, {"dc": "dc2"}, drivers=drivers, ledger=ledger)

    assert out["ledger_entries_closed"] == 1
    assert writes(fake) == [
        (f"{EDGE_URL}/admin/away", {"dc": "dc2", "away": True}),
        (f"{SUPERVISOR_API}/dc", {"dc": "dc2", "up": True}),
        (f"{SUPERVISOR_API}/sessions/promote", {"dc": "dc2", "to": "dc2", "reason": "failback"}),
        (f"{EDGE_URL}/admin/away", {"dc": "dc2", "away": False}),
    ]
    assert clock.slept - slept_before >= 4.0  # healthy and in sync for failback_after_s first
    assert fake.primary("dc2") == "dc2" and fake.state["sessions"]["dc2"]["history"][-1]["planned"]
    assert fake.state["down_dcs"] == [] and fake.gateway_running("dc2")
    assert fake.away == {"dc2": False}


def test_cells_go_home_only_once_every_gateway_routes_to_the_restored_primaries(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("dc_failover", {"dc": "dc2", "failback_after_s": 0}, drivers, ledger)
    fake.calls.clear()
    fake.stale_route_reads = 5  # the gateways re-read the routing table a little later

    engine.remove("dc_failover", CONF, {"dc": "dc2"}, drivers=drivers, ledger=ledger)

    urls = [(c.method, c.url) for c in fake.calls]
    promoted = urls.index(("POST", f"{SUPERVISOR_API}/sessions/promote"))
    home = urls.index(("POST", f"{EDGE_URL}/admin/away"), promoted)
    reads = [u for m, u in urls[promoted:home] if m == "GET" and u.endswith("/admin/state") and "gw-" in u]
    assert len(reads) >= 6 and fake.stale_route_reads == 0  # waited past every stale answer
    assert fake.away == {"dc2": False}


def test_rollback_waits_while_the_returning_replica_is_out_of_sync(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("dc_failover", {"dc": "dc2", "failback_after_s": 1, "sync_timeout_s": 5}, drivers, ledger)
    fake.out_of_sync = {"dc2"}  # the DC comes back but its member never catches up

    with pytest.raises(ActivityFailed, match="was not healthy and in sync for 1s in a row"):
        engine.remove("dc_failover", CONF, {"dc": "dc2"}, drivers=drivers, ledger=ledger)

    assert fake.primary("dc2") == "dc1"  # never switched back onto a member that lacks writes
    assert fake.away == {"dc2": True}  # its cells stay on the survivors
    assert ledger.active()  # still active: a later sweep tries again


def test_a_failed_promotion_fails_with_the_replication_state_and_is_undone(tmp_path: Path) -> None:
    fake = FakeSandbox(promote_fails=1)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(ActivityFailed, match="REPLICAOF NO ONE failed") as caught:
        inject("dc_failover", {"dc": "dc1", "failback_after_s": 0}, FakeDrivers(fake), ledger)

    assert '"replication": {"dc1": {"primary": "dc1"' in str(caught.value)
    assert ledger.history()[0].how == "injection-failed"
    assert fake.state["down_dcs"] == [] and fake.gateway_running("dc1")
    # Bringing dc1 back moved its state to the survivor first; the undo then switched it home.
    assert [e["reason"] for e in fake.state["sessions"]["dc1"]["history"]] == ["restart", "failback"]
    assert (fake.primary("dc1"), fake.primary("dc2")) == ("dc1", "dc2")
    assert fake.away == {"dc1": False}


def test_a_dc_the_supervisor_does_not_take_down_is_not_applied(tmp_path: Path) -> None:
    fake = FakeSandbox(dc_ignored=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match="does not report dc1 out"):
        inject("dc_failover", {"dc": "dc1"}, FakeDrivers(fake), ledger)

    assert ledger.history()[0].how == "injection-failed"
    assert fake.primary("dc1") == "dc1"


def test_a_replica_out_of_sync_refuses_the_outage_with_its_state(tmp_path: Path) -> None:
    fake = FakeSandbox(out_of_sync={"dc2"})
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(ActivityFailed, match="replica of dc2's session state is not in sync") as caught:
        inject("dc_failover", {"dc": "dc2"}, FakeDrivers(fake), ledger)

    assert "'in_sync': False" in str(caught.value) and "'link': 'down'" in str(caught.value)
    assert ledger.history() == [] and fake.writes == []


def test_a_replica_further_behind_than_max_lag_bytes_refuses_the_outage(tmp_path: Path) -> None:
    fake = FakeSandbox(lag_bytes=5000)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(ActivityFailed, match="5000 bytes behind, over max_lag_bytes=1000"):
        inject("dc_failover", {"dc": "dc1", "max_lag_bytes": 1000}, FakeDrivers(fake), ledger)
    assert ledger.history() == [] and fake.writes == []
    inject("dc_failover", {"dc": "dc1"}, FakeDrivers(fake), ledger)  # no bound given: lag is the RPO's
    assert fake.state["down_dcs"] == ["dc1"]


def test_an_unknown_dc_is_refused_listing_the_valid_names(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="unknown data center 'dc9'; the sandbox has dc1, dc2"):
        inject("dc_failover", {"dc": "dc9"}, drivers, ledger)
    assert ledger.history() == [] and fake.writes == []


def test_a_second_dc_outage_is_refused(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    inject("dc_failover", {"dc": "dc1"}, drivers, ledger)
    fake.calls.clear()

    with pytest.raises(ActivityFailed, match="dc1 is out already; one DC outage at a time"):
        inject("dc_failover", {"dc": "dc2"}, drivers, ledger)
    assert fake.writes == [] and len(ledger.history()) == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [({"failback_after_s": -1}, "failback_after_s"), ({"max_lag_bytes": 1.5}, "max_lag_bytes")],
)
def test_bad_arguments_name_their_field(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, args: dict[str, object], field: str
) -> None:
    with pytest.raises(BadInput, match=field):
        inject("dc_failover", {"dc": "dc1", **args}, drivers, ledger)
    assert ledger.history() == [] and fake.writes == []


def test_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match=r"dc='dc2' reaches \['dc2'\]"):
        inject("dc_failover", {"dc": "dc2"}, drivers, ledger, chaosdrill_allow_dcs=["dc1"])
    assert ledger.history() == [] and fake.writes == []


def test_revert_from_the_ledger_record_alone_and_once_the_instance_is_gone(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("dc_failover", {"dc": "dc1", "failback_after_s": 0}, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()
    fake.replace_instance("fake-instance-2")
    before = len(fake.calls)
    engine.revert(fault, drivers)
    assert len(fake.calls) == before and fake.state["down_dcs"] == ["dc1"]

    fake.replace_instance("fake-instance-1")
    engine.revert(fault, FakeDrivers(fake))
    engine.revert(fault, FakeDrivers(fake))  # idempotent

    assert fake.state["down_dcs"] == [] and fake.primary("dc1") == "dc1"


def test_a_record_of_the_gateway_only_outage_is_still_undone(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    fake.run_gateway("dc1", False)

    datacenters.DcOutage().undo(drivers, {"instance": "fake-instance-1", "api": SUPERVISOR_API, "dc": "dc1"})

    assert fake.gateway_running("dc1")


# ---------------------------------------------------------------------- replica_promotion


def test_replica_promotion_moves_the_primary_and_its_rollback_moves_it_back(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    out = inject("replica_promotion", {"dc": "dc1"}, drivers, ledger)

    assert out["primary"] == "dc2" and fake.primary("dc1") == "dc2"
    assert out["event"]["planned"] is True

    engine.remove("replica_promotion", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)

    assert fake.primary("dc1") == "dc1"
    assert writes(fake)[-1] == (
        f"{SUPERVISOR_API}/sessions/promote",
        {"dc": "dc1", "to": "dc1", "reason": "rollback"},
    )


def test_replica_promotion_rollback_leaves_a_lost_dc_to_its_outage(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("dc_failover", {"dc": "dc1", "promote": False}, drivers, ledger)
    inject("replica_promotion", {"dc": "dc1"}, drivers, ledger)  # the on-call's manual step
    fake.calls.clear()

    engine.remove("replica_promotion", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)
    assert fake.writes == [] and fake.primary("dc1") == "dc2"  # dc1's member is out: nothing to do

    engine.remove("dc_failover", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)
    assert fake.primary("dc1") == "dc1"


def test_replica_promotion_of_an_unknown_dc_lists_the_names(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="dc1, dc2"):
        inject("replica_promotion", {"dc": "dc7"}, drivers, ledger)
    assert ledger.history() == []
