"""The sandbox's load surge: the running load worker's factor, through the engine, against a
fake load handle (the worker's ``POST /factor`` is all a surge touches)."""

from typing import Any

import pytest
from fakes.sandbox_api import FakeDrivers, FakeLoad, FakeSandbox

from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied, NotRunning
from chaosdrill.faults import engine
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.fixture
def load() -> FakeLoad:
    return FakeLoad({"chat": 10.0, "embed": 4.0})


@pytest.fixture
def drivers(fake: FakeSandbox, load: FakeLoad) -> FakeDrivers:
    return FakeDrivers(fake, load)


# ---------------------------------------------------------------------- surge


def test_surge_plan_names_the_streams_and_sends_nothing(load: FakeLoad, drivers: FakeDrivers) -> None:
    plan = engine.plan("surge", CONF, {"factor": 3, "stream": "chat"}, drivers)

    assert plan.undo == {"control_url": "http://127.0.0.1:7001", "pid": 7001, "stream": "chat"}
    assert plan.key == "surge:chat"
    assert plan.touches == ("load streams 'chat': x3",)
    assert (plan.dcs, plan.share) == ((), None)
    assert load.calls == []


def test_surge_plan_with_streams_known_before_the_run(fake: FakeSandbox, load: FakeLoad) -> None:
    streams: list[dict[str, Any]] = [
        {"name": "chat", "rate": 10, "tenant": "a"},
        {"name": "embed", "rate": 4},
    ]
    drivers = FakeDrivers(fake, load, streams=streams)

    plan = engine.plan("surge", CONF, {"factor": 2.5, "stream": "c*"}, drivers)

    assert plan.details == {"streams": [{"name": "chat", "rate": 10, "new_rate": 25.0}]}
    assert plan.touches == ("load stream chat (tenant a): x2.5: 10 -> 25 req/s",)
    with pytest.raises(
        ActivityFailed, match=r"stream 'nope' matches no load stream \(streams: chat, embed\)"
    ):
        engine.plan("surge", CONF, {"stream": "nope"}, drivers)
    assert load.calls == []


def test_surge_sets_the_factor_and_is_recorded(load: FakeLoad, drivers: FakeDrivers, ledger: Ledger) -> None:
    result = inject("surge", {"factor": 3, "stream": "chat"}, drivers, ledger)

    assert load.factors == {"chat": 3.0, "embed": 1.0}
    assert load.calls == [("chat", 3.0)]
    assert (result["factor"], result["matched"]) == (3.0, ["chat"])
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("surge", "sandbox", None)
    assert record.fault.key == "surge:chat"
    assert record.fault.undo == {"control_url": "http://127.0.0.1:7001", "pid": 7001, "stream": "chat"}


def test_surge_the_worker_refuses_is_not_applied(
    load: FakeLoad, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("surge", {"factor": 2, "stream": "nope"}, drivers, ledger)

    assert caught.value.field == "stream"
    assert ledger.history()[0].how == "injection-failed"
    assert load.calls == [("nope", 2.0), ("nope", 1.0)]  # applied, then undone
    assert load.factors == {"chat": 1.0, "embed": 1.0}


def test_surge_the_worker_ignores_is_not_applied(fake: FakeSandbox, ledger: Ledger) -> None:
    load = FakeLoad({"chat": 10.0}, ignore_factor=True)

    with pytest.raises(FaultNotApplied):
        inject("surge", {"factor": 3, "stream": "chat"}, FakeDrivers(fake, load), ledger)

    assert ledger.history()[0].how == "injection-failed"


def test_surge_remove_sets_the_factor_back(load: FakeLoad, drivers: FakeDrivers, ledger: Ledger) -> None:
    inject("surge", {"factor": 4, "stream": "*"}, drivers, ledger)
    assert load.factors == {"chat": 4.0, "embed": 4.0}

    out = engine.remove("surge", CONF, {"stream": "*"}, drivers=drivers, ledger=ledger)

    assert out == {"ledger_entries_closed": 1}
    assert load.factors == {"chat": 1.0, "embed": 1.0}
    assert load.calls[-1] == ("*", 1.0)
    assert ledger.history()[0].how == "rollback"


def test_surge_revert_from_the_ledger_record_alone(
    fake: FakeSandbox, load: FakeLoad, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("surge", {"factor": 2, "stream": "embed"}, drivers, ledger)
    (fault,) = Ledger(ledger.path).replay()

    engine.revert(fault, FakeDrivers(fake, load))

    assert load.factors == {"chat": 1.0, "embed": 1.0}


@pytest.mark.parametrize("how", ["no worker", "another worker", "worker exited"])
def test_surge_revert_once_its_worker_is_gone_is_a_no_op(
    fake: FakeSandbox, load: FakeLoad, drivers: FakeDrivers, ledger: Ledger, how: str
) -> None:
    inject("surge", {"factor": 2, "stream": "chat"}, drivers, ledger)
    (fault,) = ledger.replay()
    other = FakeLoad({"chat": 10.0}, pid=7002)
    if how == "no worker":
        later = FakeDrivers(fake, None)
    elif how == "another worker":
        later = FakeDrivers(fake, other)
    else:
        load.running = False
        later = FakeDrivers(fake, load)

    engine.revert(fault, later)

    assert load.calls == [("chat", 2.0)]
    assert other.calls == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"factor": 0}, "factor"),
        ({"factor": -2}, "factor"),
        ({"factor": 1001}, "factor"),
        ({"factor": True}, "factor"),
        ({"factor": "5"}, "factor"),
        ({"factor": 2, "ttl_s": 30}, "ttl_s"),
    ],
)
def test_surge_bad_arguments_are_refused_naming_the_field(
    load: FakeLoad, drivers: FakeDrivers, ledger: Ledger, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("surge", args, drivers, ledger)
    assert caught.value.field == field
    assert ledger.history() == []
    assert load.calls == []


def test_surge_without_a_running_load_is_refused(fake: FakeSandbox, ledger: Ledger) -> None:
    with pytest.raises(NotRunning, match="no load is running"):
        inject("surge", {"factor": 2}, FakeDrivers(fake, None), ledger)
    assert ledger.history() == []


def test_surge_is_not_scoped_by_dc_or_share(load: FakeLoad, drivers: FakeDrivers, ledger: Ledger) -> None:
    """The blast-radius settings have nothing to check on a surge: it names no DC and no replicas."""
    inject(
        "surge",
        {"factor": 2, "stream": "chat"},
        drivers,
        ledger,
        chaosdrill_allow_dcs=[],
        chaosdrill_max_percentage=0,
    )
    assert load.factors["chat"] == 2.0


def test_a_surge_on_a_team_system_multiplies_the_load_sent_to_it(
    load: FakeLoad, drivers: FakeDrivers, ledger: Ledger
) -> None:
    """The load is chaosdrill's own, whatever it is sent to: the same kind runs on a system."""
    system = {"chaosdrill_target": "system"}
    out = engine.inject("surge", system, {"factor": 2, "stream": "chat"}, drivers=drivers, ledger=ledger)
    assert load.factors == {"chat": 2.0, "embed": 1.0}
    [fault] = ledger.active()
    assert (fault.kind, fault.target, fault.id) == ("surge", "system", out["fault_id"])
    engine.remove("surge", system, {"stream": "chat"}, drivers=drivers, ledger=ledger)
    assert load.factors == {"chat": 1.0, "embed": 1.0} and ledger.active() == []
