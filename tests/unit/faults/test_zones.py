"""Zone faults on the sandbox: zone_outage (the supervisor holds a pool at zero) and
zone_partition (a blackhole on the pool's links). Through the engine, against the fake
sandbox: only HTTP and, where a kind waits out a timeout, the clock are faked."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fakes.sandbox_api import SUPERVISOR_API, TOXIPROXY_API, FakeClock, FakeDrivers, FakeSandbox

from chaosdrill.drivers.kube import client as kube_client
from chaosdrill.errors import ActivityFailed, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.faults.kinds import zones
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

AZ_B_LINKS = ["dc1-az-b-replicas-0", "dc1-az-b-replicas-1"]


def picked(undo: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    """``undo`` cut down to ``expected``'s keys: the undo state may carry more (toxiproxy servers)."""
    return {key: undo.get(key) for key in expected}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """zone_outage's wait for its pool to empty runs on a clock that sleeping advances."""
    fake_time = FakeClock()
    monkeypatch.setattr(zones, "time", fake_time)
    monkeypatch.setattr(kube_client, "time", fake_time)  # the shared wait_until
    return fake_time


def pids(fake: FakeSandbox, dc: str, az: str) -> list[int]:
    return [int(r["pid"]) for r in fake.replicas(dc, az)]


# ---------------------------------------------------------------------- zone_outage


def test_zone_outage_plan_names_the_pool_and_touches_nothing(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    plan = engine.plan("zone_outage", CONF, {"zone": "dc1-az-a"}, drivers)

    assert plan.undo == {"instance": "fake-instance-1", "api": SUPERVISOR_API, "dc": "dc1", "az": "az-a"}
    assert plan.key == "zone_outage:dc1-az-a"
    assert plan.dcs == ("dc1",)
    assert plan.touches == ("replica pool dc1/az-a: stop every replica and hold it at zero",)
    assert fake.writes == []
    assert len(fake.replicas("dc1", "az-a")) == 2


def test_zone_outage_holds_the_pool_at_zero_and_is_recorded(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    before = pids(fake, "dc1", "az-a")

    result = inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger)

    assert result["pool"] == "dc1/az-a"
    assert fake.pool("dc1", "az-a")["held"] is True
    assert fake.replicas("dc1", "az-a") == []
    assert not any(fake.alive(p) for p in before)
    assert len(fake.replicas("dc1", "az-b")) == 1 and len(fake.replicas("dc2", "az-a")) == 2
    assert [(c.path, c.body) for c in fake.writes] == [("/hold", {"dc": "dc1", "az": "az-a", "held": True})]
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("zone_outage", "sandbox", None)
    expected = {
        "instance": "fake-instance-1",
        "api": SUPERVISOR_API,
        "dc": "dc1",
        "az": "az-a",
    }
    assert picked(record.fault.undo, expected) == expected


def test_zone_outage_with_replicas_left_is_not_applied(tmp_path: Path, clock: FakeClock) -> None:
    fake = FakeSandbox(hold_ignored=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match="dc1/az-a still has 2 replicas after the outage"):
        inject("zone_outage", {"zone": "dc1-az-a"}, FakeDrivers(fake), ledger)

    assert clock.slept >= 10.0
    assert ledger.history()[0].how == "injection-failed"
    assert [c.body["held"] for c in fake.writes] == [True, False]  # the undo released it


def test_zone_outage_remove_releases_the_pool(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    before = pids(fake, "dc1", "az-a")
    inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger)

    out = engine.remove("zone_outage", CONF, {"zone": "dc1-az-a"}, drivers=drivers, ledger=ledger)

    assert out == {"ledger_entries_closed": 1, "zone": "dc1-az-a"}
    assert fake.pool("dc1", "az-a")["held"] is False
    after = pids(fake, "dc1", "az-a")
    assert len(after) == 2 and all(fake.alive(p) for p in after) and set(after).isdisjoint(before)
    assert ledger.history()[0].how == "rollback"


def test_zone_outage_revert_from_the_ledger_record_alone(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("zone_outage", {"zone": "dc2-az-b"}, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()

    engine.revert(fault, FakeDrivers(fake))

    assert fake.pool("dc2", "az-b")["held"] is False
    assert len(fake.replicas("dc2", "az-b")) == 2


def test_zone_outage_revert_once_the_instance_is_gone_is_a_no_op(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger)
    (fault,) = ledger.replay()
    fake.replace_instance("fake-instance-2")
    before = len(fake.calls)

    engine.revert(fault, drivers)

    assert len(fake.calls) == before
    assert fake.pool("dc1", "az-a")["held"] is True


def test_zone_outage_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match=r"dc='dc1' reaches \['dc1'\]"):
        inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger, chaosdrill_allow_dcs=["dc2"])
    assert ledger.history() == []
    assert fake.writes == []


def test_zone_outage_of_an_unknown_zone_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="unknown zone 'dc3-az-a'; the sandbox has dc1-az-a, dc1-az-b"):
        inject("zone_outage", {"zone": "dc3-az-a"}, drivers, ledger)
    assert ledger.history() == []
    assert fake.writes == []


# ---------------------------------------------------------------------- zone_partition


def test_zone_partition_plan_names_the_pool_links(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    plan = engine.plan("zone_partition", CONF, {"zone": "dc1-az-b"}, drivers)

    assert plan.details == {"proxies": AZ_B_LINKS, "toxic": "chaosdrill-partition"}
    assert plan.key == "toxic:chaosdrill-partition:dc1/az-b/replicas"
    assert plan.dcs == ("dc1",)
    expected = {
        "instance": "fake-instance-1",
        "api": TOXIPROXY_API,
        "proxies": AZ_B_LINKS,
        "toxic": "chaosdrill-partition",
    }
    assert picked(plan.undo, expected) == expected
    assert fake.writes == []


def test_zone_partition_blackholes_the_pool_links_and_is_recorded(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("zone_partition", {"zone": "dc1-az-b"}, drivers, ledger)

    assert fake.poisoned() == {p: ["chaosdrill-partition"] for p in AZ_B_LINKS}
    assert fake.toxics("dc1-az-b-replicas-0")[0]["type"] == "timeout"
    assert fake.toxics("dc1-az-b-replicas-0")[0]["attributes"] == {"timeout": 0}
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("zone_partition", "sandbox", None)
    assert record.fault.undo["proxies"] == AZ_B_LINKS


def test_zone_partition_not_listed_is_not_applied(tmp_path: Path) -> None:
    fake = FakeSandbox(ignore_toxics=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match="toxic chaosdrill-partition not present"):
        inject("zone_partition", {"zone": "dc1-az-b"}, FakeDrivers(fake), ledger)

    assert ledger.history()[0].how == "injection-failed"
    assert [c.path for c in fake.calls if c.method == "DELETE"] == [
        f"/proxies/{p}/toxics/chaosdrill-partition" for p in AZ_B_LINKS
    ]


def test_zone_partition_remove_and_revert(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    inject("zone_partition", {"zone": "dc1-az-b"}, drivers, ledger)
    out = engine.remove("zone_partition", CONF, {"zone": "dc1-az-b"}, drivers=drivers, ledger=ledger)
    assert out == {"ledger_entries_closed": 1, "removed_from": AZ_B_LINKS}
    assert fake.poisoned() == {}
    assert ledger.active() == []

    inject("zone_partition", {"zone": "dc2-az-a"}, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()
    engine.revert(fault, FakeDrivers(fake))
    assert fake.poisoned() == {}


def test_zone_partition_revert_once_the_instance_is_gone_is_a_no_op(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("zone_partition", {"zone": "dc1-az-b"}, drivers, ledger)
    (fault,) = ledger.replay()
    fake.gone = True
    before = len(fake.calls)

    engine.revert(fault, drivers)

    assert len(fake.calls) == before
    assert fake.poisoned() == {p: ["chaosdrill-partition"] for p in AZ_B_LINKS}


def test_zone_partition_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match=r"reaches \['dc1'\]"):
        inject("zone_partition", {"zone": "dc1-az-b"}, drivers, ledger, chaosdrill_allow_dcs=["dc2"])
    assert ledger.history() == []
    assert fake.writes == []


def test_zone_partition_of_an_unknown_zone_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="unknown zone 'dc1-az-z'"):
        inject("zone_partition", {"zone": "dc1-az-z"}, drivers, ledger)
    assert ledger.history() == []
    assert fake.writes == []
