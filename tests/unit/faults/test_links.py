"""The sandbox's toxic link faults (latency, bandwidth, blackhole, reset_peer) through the
engine, against a fake toxiproxy: the kinds' own code runs, only HTTP is faked. Latency's
timing and link_cut are in ``test_latency_and_link_cut``."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fakes.sandbox_api import TOXIPROXY_API, FakeDrivers, FakeSandbox

from chaosdrill.drivers.toxiproxy import ToxiproxyClient, ToxiproxyError
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
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

# (kind, arguments, toxic name, toxiproxy type, attributes sent)
TOXICS = [
    pytest.param(
        "latency",
        {"latency_ms": 50, "jitter_ms": 0, "dc": "dc1"},
        "chaosdrill-latency",
        "latency",
        {"latency": 50, "jitter": 0},
        id="latency",
    ),
    pytest.param(
        "bandwidth",
        {"rate_kb_s": 64, "dc": "dc1"},
        "chaosdrill-bandwidth",
        "bandwidth",
        {"rate": 64},
        id="bandwidth",
    ),
    pytest.param(
        "blackhole",
        {"timeout_ms": 0, "dc": "dc1"},
        "chaosdrill-blackhole",
        "timeout",
        {"timeout": 0},
        id="blackhole",
    ),
    pytest.param(
        "reset_peer",
        {"timeout_ms": 10, "dc": "dc1"},
        "chaosdrill-reset",
        "reset_peer",
        {"timeout": 10},
        id="reset_peer",
    ),
]


def on_dc1_links(toxic: str) -> dict[str, list[str]]:
    """What the fake's ``poisoned()`` shows when ``toxic`` is on every dc1 replica link only."""
    return {proxy: [toxic] for proxy in DC1_REPLICA_LINKS}


def picked(undo: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    """``undo`` cut down to ``expected``'s keys: the undo state may carry more (toxiproxy servers)."""
    return {key: undo.get(key) for key in expected}


# ---------------------------------------------------------------------- toxics


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_plan_names_the_proxies_and_touches_nothing(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    plan = engine.plan(kind, CONF, args, drivers)
    assert plan.details == {"proxies": DC1_REPLICA_LINKS, "toxic": toxic}
    assert plan.dcs == ("dc1",)
    assert plan.share is None
    expected = {
        "instance": "fake-instance-1",
        "api": TOXIPROXY_API,
        "proxies": DC1_REPLICA_LINKS,
        "toxic": toxic,
    }
    assert picked(plan.undo, expected) == expected
    assert plan.key == f"toxic:{toxic}:dc1/*/replicas"
    # the slot with no replica behind it is named as such
    assert [t for t in plan.touches if "without a replica" in t] == [
        f"toxiproxy dc1-az-b-replicas-1 (dc1/az-b/replicas): add {toxic} [slot without a replica now]"
    ]
    assert fake.writes == []
    assert fake.poisoned() == {}


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_inject_lands_on_the_selected_proxies_and_is_recorded(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    result = inject(kind, args, drivers, ledger)

    assert fake.poisoned() == on_dc1_links(toxic)  # dc2 and redis untouched
    for proxy in DC1_REPLICA_LINKS:
        assert fake.toxics(proxy) == [
            {
                "name": toxic,
                "type": toxic_type,
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": attributes,
            }
        ]
    assert result["proxies"] == DC1_REPLICA_LINKS
    (record,) = ledger.history()
    assert record.fault.id == result["fault_id"]
    assert (record.fault.kind, record.fault.target, record.reverted_at) == (kind, "sandbox", None)
    assert record.fault.key == f"toxic:{toxic}:dc1/*/replicas"
    expected = {
        "instance": "fake-instance-1",
        "api": TOXIPROXY_API,
        "proxies": DC1_REPLICA_LINKS,
        "toxic": toxic,
    }
    assert picked(record.fault.undo, expected) == expected


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_not_listed_after_injection_is_not_applied_and_undone(
    tmp_path: Path,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    fake = FakeSandbox(ignore_toxics=True)  # 200 to every add, but nothing stored
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match=f"toxic {toxic} not present"):
        inject(kind, args, FakeDrivers(fake), ledger)

    (record,) = ledger.history()
    assert record.fault.kind == kind
    assert record.how == "injection-failed"
    deletes = [c.path for c in fake.calls if c.method == "DELETE"]
    assert deletes == [f"/proxies/{p}/toxics/{toxic}" for p in DC1_REPLICA_LINKS]


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_remove_with_the_same_arguments_closes_the_entry_and_clears_the_proxies(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    inject(kind, args, drivers, ledger)

    out = engine.remove(kind, CONF, args, drivers=drivers, ledger=ledger)

    assert out == {"ledger_entries_closed": 1, "removed_from": DC1_REPLICA_LINKS}
    assert fake.poisoned() == {}
    (record,) = ledger.history()
    assert record.how == "rollback"
    assert ledger.active() == []
    # idempotent: nothing left to close, nothing left on the proxies
    again = engine.remove(kind, CONF, args, drivers=drivers, ledger=ledger)
    assert again["ledger_entries_closed"] == 0


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_revert_from_the_ledger_record_alone(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    inject(kind, args, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()  # as `chaosdrill recover` reads it: no experiment at hand

    engine.revert(fault, FakeDrivers(fake))

    assert fake.poisoned() == {}
    engine.revert(fault, FakeDrivers(fake))  # idempotent: the toxics' 404s are not errors
    assert fake.poisoned() == {}


@pytest.mark.parametrize("how", ["gone", "replaced"])
@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
def test_toxic_revert_once_the_instance_is_gone_is_a_no_op(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    how: str,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    inject(kind, args, drivers, ledger)
    (fault,) = ledger.replay()
    if how == "gone":
        fake.gone = True
    else:
        fake.replace_instance("fake-instance-2")
    before = len(fake.calls)

    engine.revert(fault, drivers)

    assert len(fake.calls) == before  # not a single request to another instance
    assert fake.poisoned() == on_dc1_links(toxic)


@pytest.mark.parametrize(("kind", "args", "toxic", "toxic_type", "attributes"), TOXICS)
@pytest.mark.parametrize("dc", ["dc1", "*"])
def test_toxic_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    dc: str,
    kind: str,
    args: dict[str, Any],
    toxic: str,
    toxic_type: str,
    attributes: dict[str, Any],
) -> None:
    with pytest.raises(ActivityFailed, match=r"outside the experiment's allowlist \['dc2'\]"):
        inject(kind, {**args, "dc": dc}, drivers, ledger, chaosdrill_allow_dcs=["dc2"])
    assert ledger.history() == []
    assert fake.writes == []
    assert fake.poisoned() == {}


@pytest.mark.parametrize(
    ("kind", "args", "field"),
    [
        ("latency", {"latency_ms": -1}, "latency_ms"),
        ("latency", {"latency_ms": 50, "jitter_ms": -5}, "jitter_ms"),
        ("latency", {"latency_ms": "50"}, "latency_ms"),
        ("bandwidth", {"rate_kb_s": 0}, "rate_kb_s"),
        ("bandwidth", {"rate_kb_s": -64}, "rate_kb_s"),
        ("bandwidth", {"rate_kb_s": True}, "rate_kb_s"),
        ("blackhole", {"timeout_ms": -1}, "timeout_ms"),
        ("reset_peer", {"timeout_ms": -1}, "timeout_ms"),
        ("latency", {"latency_ms": 50, "ttl_s": -3}, "ttl_s"),
        ("bandwidth", {"rate_kb_s": 64, "ttl_s": 0}, "ttl_s"),
    ],
)
def test_toxic_bad_arguments_are_refused_naming_the_field(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, kind: str, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadInput) as caught:
        inject(kind, args, drivers, ledger)
    assert field in caught.value.field
    assert ledger.history() == []
    assert fake.writes == []


def test_a_negative_jitter_is_blamed_on_jitter_ms_alone(drivers: FakeDrivers, ledger: Ledger) -> None:
    with pytest.raises(BadInput) as caught:
        inject("latency", {"latency_ms": 50, "jitter_ms": -5}, drivers, ledger)
    assert caught.value.field == "jitter_ms"


def test_an_unknown_link_is_refused_naming_the_known_ones(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    known = r"dc1/\*/redis, dc1/\*/redis-repl, dc1/\*/sessions, dc1/az-a/replicas"
    with pytest.raises(ActivityFailed, match=rf"link=.db.*known links: {known}"):
        inject("latency", {"latency_ms": 50, "link": "db"}, drivers, ledger)
    assert ledger.history() == []
    assert fake.writes == []


# ---------------------------------------------------------------------- the fake speaks toxiproxy's protocol


def test_the_fake_toxiproxy_answers_the_client_as_the_server_does(fake: FakeSandbox) -> None:
    client = ToxiproxyClient(TOXIPROXY_API, fake.session())
    client.add_toxic("dc2-redis", "t", "latency", {"latency": 1})
    with pytest.raises(ToxiproxyError, match="HTTP 409"):  # a name already there
        client.add_toxic("dc2-redis", "t", "latency", {"latency": 1})
    with pytest.raises(ToxiproxyError, match="HTTP 400"):
        client.add_toxic("dc2-redis", "u", "no-such-type", {})

    assert [t["name"] for t in client.toxics("dc2-redis")] == ["t"]
    client.remove_toxic("dc2-redis", "t")
    client.remove_toxic("dc2-redis", "t")  # 404: already gone is fine
    assert client.toxics("no-such-proxy") == []  # 404 on a proxy: nothing listed
    assert client.update_proxy("dc2-redis", enabled=False).enabled is False
    assert client.proxies()["dc2-redis"].enabled is False
    assert [c.method for c in fake.calls].count("DELETE") == 2
