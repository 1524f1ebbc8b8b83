"""The sandbox's gateway faults: defences_off (the gateway's admin API). Through the engine,
against the fake sandbox. Link faults are in ``test_links`` and ``test_latency_and_link_cut``,
replica faults in ``test_pod_kill`` and ``test_zones``, the load surge in ``test_surge``, the
whole-DC outage and replica promotion in ``test_dc_outage``."""

from pathlib import Path
from typing import Any

import pytest
from fakes.sandbox_api import FakeDrivers, FakeSandbox

from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

ALL_ON = {"breaker": True, "fallback": True, "rate_limit": True}


# ---------------------------------------------------------------------- defences_off


def test_defences_off_plan_reads_the_switches_and_changes_nothing(
    fake: FakeSandbox, drivers: FakeDrivers
) -> None:
    plan = engine.plan("defences_off", CONF, {"dc": "dc1", "breaker": True, "rate_limit": True}, drivers)

    assert plan.details == {
        "defences_off": ["breaker", "rate_limit"],
        "previous": {"breaker": True, "rate_limit": True},
    }
    assert plan.undo == {
        "instance": "fake-instance-1",
        "url": "http://gw-dc1.fake",
        "defences": {"breaker": True, "rate_limit": True},
    }
    assert plan.key == "defences:dc1"
    assert plan.dcs == ("dc1",)
    assert [(c.method, c.url) for c in fake.calls] == [("GET", "http://gw-dc1.fake/admin/state")]
    assert fake.defences == {"dc1": ALL_ON, "dc2": ALL_ON}


def test_defences_off_turns_them_off_and_is_recorded(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    result = inject("defences_off", {"dc": "dc1", "breaker": True, "rate_limit": True}, drivers, ledger)

    assert fake.defences["dc1"] == {"breaker": False, "fallback": True, "rate_limit": False}
    assert fake.defences["dc2"] == ALL_ON
    assert result["now"] == {"breaker": False, "rate_limit": False}
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("defences_off", "sandbox", None)
    assert record.fault.undo == {
        "instance": "fake-instance-1",
        "url": "http://gw-dc1.fake",
        "defences": {"breaker": True, "rate_limit": True},
    }


def test_defences_off_the_gateway_ignores_is_not_applied(tmp_path: Path) -> None:
    fake = FakeSandbox(defences_ignore=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match="gateway dc1 reports defences"):
        inject("defences_off", {"dc": "dc1", "fallback": True}, FakeDrivers(fake), ledger)

    assert ledger.history()[0].how == "injection-failed"
    assert [(c.url, c.body) for c in fake.writes] == [
        ("http://gw-dc1.fake/admin/defences", {"fallback": False}),
        ("http://gw-dc1.fake/admin/defences", {"fallback": True}),  # the undo
    ]


def test_defences_off_remove_restores_what_was_there(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    fake.defences["dc1"]["fallback"] = False  # already off before the drill: stays off after it
    inject("defences_off", {"dc": "dc1", "breaker": True, "fallback": True}, drivers, ledger)
    assert fake.defences["dc1"] == {"breaker": False, "fallback": False, "rate_limit": True}

    out = engine.remove("defences_off", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)

    assert out == {"ledger_entries_closed": 1, "dc": "dc1"}
    assert fake.defences["dc1"] == {"breaker": True, "fallback": False, "rate_limit": True}
    assert ledger.history()[0].how == "rollback"


def test_defences_off_revert_from_the_ledger_record_alone(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("defences_off", {"dc": "dc2", "breaker": True}, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()

    engine.revert(fault, FakeDrivers(fake))

    assert fake.defences["dc2"] == ALL_ON


def test_defences_off_revert_once_the_instance_is_gone_is_a_no_op(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("defences_off", {"dc": "dc1", "breaker": True}, drivers, ledger)
    (fault,) = ledger.replay()
    fake.gone = True
    before = len(fake.calls)

    engine.revert(fault, drivers)

    assert len(fake.calls) == before
    assert fake.defences["dc1"]["breaker"] is False


def test_defences_off_outside_the_dc_allowlist_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match=r"dc='dc1' reaches \['dc1'\]"):
        inject("defences_off", {"dc": "dc1", "breaker": True}, drivers, ledger, chaosdrill_allow_dcs=["dc2"])
    assert ledger.history() == []
    assert fake.writes == []
    assert fake.defences["dc1"] == ALL_ON


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"dc": "dc1"}, "breaker/fallback/rate_limit"),
        ({"dc": "dc1", "breaker": False, "fallback": 0}, "breaker/fallback/rate_limit"),
    ],
)
def test_defences_off_with_no_defence_named_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("defences_off", args, drivers, ledger)
    assert caught.value.field == field
    assert ledger.history() == []
    assert fake.calls == []  # refused before the gateway is even asked


def test_defences_off_of_a_defence_the_gateway_lacks_is_refused(tmp_path: Path) -> None:
    fake = FakeSandbox(defences=("breaker", "fallback"))
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(BadInput, match="not a gateway defence") as caught:
        inject("defences_off", {"dc": "dc1", "rate_limit": True}, FakeDrivers(fake), ledger)

    assert caught.value.field == "rate_limit"
    assert ledger.history() == []
    assert fake.writes == []


def test_defences_off_of_an_unknown_dc_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="unknown data center 'dc9'"):
        inject("defences_off", {"dc": "dc9", "breaker": True}, drivers, ledger)
    assert ledger.history() == []
    assert fake.writes == []


def test_defences_off_injected_twice_are_all_back_on_after_remove(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("defences_off", {"dc": "dc1", "breaker": True}, drivers, ledger)
    inject("defences_off", {"dc": "dc1", "breaker": True, "fallback": True}, drivers, ledger)
    assert [f.undo["defences"] for f in ledger.active()] == [
        {"breaker": True},
        {"breaker": False, "fallback": True},
    ]

    out = engine.remove("defences_off", CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)

    assert out["ledger_entries_closed"] == 2
    assert fake.defences["dc1"] == ALL_ON
