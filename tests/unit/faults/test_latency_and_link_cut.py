"""Latency must be felt, not only listed; and link_cut, the one link fault that is no toxic.
Through the engine, against a fake toxiproxy and fake replica links: only HTTP is faked."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fakes.sandbox_api import TOXIPROXY_API, FakeDrivers, FakeSandbox

from chaosdrill.errors import ActivityFailed, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

DC1_REPLICA_LINKS = [
    "dc1-az-a-replicas-0",
    "dc1-az-a-replicas-1",
    "dc1-az-b-replicas-0",
    "dc1-az-b-replicas-1",
]


def on_dc1_links(toxic: str) -> dict[str, list[str]]:
    """What the fake's ``poisoned()`` shows when ``toxic`` is on every dc1 replica link only."""
    return {proxy: [toxic] for proxy in DC1_REPLICA_LINKS}


def picked(undo: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    """``undo`` cut down to ``expected``'s keys: the undo state may carry more (toxiproxy servers)."""
    return {key: undo.get(key) for key in expected}


# ---------------------------------------------------------------------- latency is felt, not assumed


def test_latency_is_timed_through_a_replica_link(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("latency", {"latency_ms": 50, "dc": "dc1", "az": "az-b"}, drivers, ledger)

    (url, timeout) = fake.health_checks[0]
    listen = fake.proxies["dc1-az-b-replicas-0"]["listen"]  # slot 1 of az-b has no replica: not timed
    assert url == f"http://{listen}/healthz"
    assert timeout == pytest.approx(5.05)
    assert len(fake.health_checks) == 1


def test_latency_listed_but_not_felt_is_not_applied(tmp_path: Path) -> None:
    fake = FakeSandbox(latency_felt_ms=0)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match=r"latency not observed: .* expected at least 40 ms"):
        inject("latency", {"latency_ms": 50, "dc": "dc1"}, FakeDrivers(fake), ledger)

    (record,) = ledger.history()
    assert record.how == "injection-failed"
    assert fake.poisoned() == {}  # the listed toxics were taken off again


def test_latency_jitter_lowers_what_must_be_felt(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    fake.latency_felt_ms = 10  # 0.8 x (60 - 50) ms = 8 ms is enough
    inject("latency", {"latency_ms": 60, "jitter_ms": 50, "dc": "dc1"}, drivers, ledger)
    assert ledger.history()[0].reverted_at is None


def test_latency_that_cannot_be_timed_anywhere_is_not_applied(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    for proxy in DC1_REPLICA_LINKS:
        fake.proxies[proxy]["enabled"] = False  # every GET is refused

    with pytest.raises(FaultNotApplied, match="could not be observed through any selected link's health URL"):
        inject("latency", {"latency_ms": 50, "dc": "dc1"}, drivers, ledger)

    assert len(fake.health_checks) == 3  # three candidates tried before giving up
    assert ledger.history()[0].how == "injection-failed"


def test_latency_on_redis_links_is_listed_not_timed(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    fake.latency_felt_ms = 0
    inject("latency", {"latency_ms": 50, "link": "redis"}, drivers, ledger)
    assert fake.poisoned() == {"dc1-redis": ["chaosdrill-latency"], "dc2-redis": ["chaosdrill-latency"]}
    assert fake.health_checks == []


def test_an_overlapping_injection_is_refused_and_leaves_the_first_fault_in_place(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    """Adding the toxic again would fail half-way (toxiproxy answers 409 for a name already
    there) and undoing that would take the first fault's toxic: it is refused at plan time."""
    first = inject("latency", {"latency_ms": 50, "dc": "dc1"}, drivers, ledger)
    writes = len(fake.writes)
    with pytest.raises(ActivityFailed, match=r"chaosdrill-latency is already on \['dc1-"):
        inject("latency", {"latency_ms": 50, "dc": "*"}, drivers, ledger)
    assert len(fake.writes) == writes
    assert len(ledger.history()) == 1

    assert [f.id for f in ledger.active()] == [first["fault_id"]]
    assert fake.poisoned() == on_dc1_links("chaosdrill-latency")


# ---------------------------------------------------------------------- link_cut


def test_link_cut_plan_selects_redis_links_by_default(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    plan = engine.plan("link_cut", CONF, {}, drivers)
    assert plan.details == {"proxies": ["dc1-redis", "dc2-redis"]}
    assert plan.dcs == ("dc1", "dc2")
    assert plan.key == "disable:*/*/redis"
    assert plan.touches == (
        "toxiproxy dc1-redis (dc1/*/redis): disable",
        "toxiproxy dc2-redis (dc2/*/redis): disable",
    )
    assert fake.writes == []
    assert all(p["enabled"] for p in fake.proxies.values())


def test_link_cut_disables_the_selected_proxies_and_is_recorded(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    result = inject("link_cut", {"dc": "dc1"}, drivers, ledger)

    assert result["disabled"] == ["dc1-redis"]
    assert [name for name, p in fake.proxies.items() if not p["enabled"]] == ["dc1-redis"]
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("link_cut", "sandbox", None)
    assert record.fault.key == "disable:dc1/*/redis"
    expected = {
        "instance": "fake-instance-1",
        "api": TOXIPROXY_API,
        "proxies": ["dc1-redis"],
    }
    assert picked(record.fault.undo, expected) == expected


def test_link_cut_on_replica_links_of_one_zone(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("link_cut", {"dc": "dc2", "az": "az-a", "link": "replicas"}, drivers, ledger)
    assert sorted(n for n, p in fake.proxies.items() if not p["enabled"]) == [
        "dc2-az-a-replicas-0",
        "dc2-az-a-replicas-1",
    ]


def test_link_cut_still_enabled_after_injection_is_not_applied(tmp_path: Path) -> None:
    fake = FakeSandbox(ignore_proxy_updates=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match=r"proxies \['dc1-redis'\] still enabled"):
        inject("link_cut", {"dc": "dc1"}, FakeDrivers(fake), ledger)

    assert ledger.history()[0].how == "injection-failed"
    posts = [(c.path, c.body) for c in fake.writes]
    assert posts == [("/proxies/dc1-redis", {"enabled": False}), ("/proxies/dc1-redis", {"enabled": True})]


def test_link_cut_remove_closes_the_entry_and_enables_the_links(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("link_cut", {"dc": "dc1"}, drivers, ledger)

    out = engine.remove("link_cut", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)

    assert out == {"ledger_entries_closed": 1, "enabled": ["dc1-redis"]}
    assert fake.enabled("dc1-redis")
    assert ledger.active() == []
    assert ledger.history()[0].how == "rollback"


def test_link_cut_revert_from_the_ledger_record_alone(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("link_cut", {"dc": "*"}, drivers, ledger)
    assert not fake.enabled("dc1-redis") and not fake.enabled("dc2-redis")
    (fault,) = Ledger(ledger.path).replay()

    engine.revert(fault, FakeDrivers(fake))

    assert all(p["enabled"] for p in fake.proxies.values())


def test_link_cut_revert_once_the_instance_is_gone_is_a_no_op(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("link_cut", {"dc": "dc1"}, drivers, ledger)
    (fault,) = ledger.replay()
    fake.gone = True
    before = len(fake.calls)

    engine.revert(fault, drivers)

    assert len(fake.calls) == before
    assert not fake.enabled("dc1-redis")


def test_link_cut_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match=r"dc='\*' reaches \['dc2'\]"):
        inject("link_cut", {"dc": "*"}, drivers, ledger, chaosdrill_allow_dcs=["dc1"])
    assert ledger.history() == []
    assert fake.writes == []


def test_link_cut_of_an_unknown_link_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="no sandbox link matches"):
        inject("link_cut", {"dc": "dc3"}, drivers, ledger)
    assert ledger.history() == []
    assert fake.writes == []


def test_cutting_links_already_cut_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    """Its undo would re-enable what the first cut (or a person) disabled."""
    inject("link_cut", {"dc": "dc1"}, drivers, ledger)
    writes = len(fake.writes)
    with pytest.raises(ActivityFailed, match=r"proxies \['dc1-redis'\] are already disabled"):
        inject("link_cut", {"dc": "*"}, drivers, ledger)
    assert len(fake.writes) == writes
    assert len(ledger.history()) == 1
