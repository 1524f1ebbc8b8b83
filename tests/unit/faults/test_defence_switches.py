"""The negative controls' per-DC switches: autoscaler_paused (the autoscaler's decisions for a
DC's pools) and health_checks_off (the edge's health checks of a DC). Through the engine,
against the fake sandbox: recorded, verified, reverted from the ledger alone, refused outside
the allowlist and when stacked."""

from pathlib import Path

import pytest
from fakes.sandbox_api import AUTOSCALER_URL, EDGE_URL, FakeDrivers, FakeSandbox

from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

# kind, the fake's set of DCs switched off, the component's URL, its POST path and field,
# the body value that turns the defence off
SWITCHES = [
    ("autoscaler_paused", "paused", AUTOSCALER_URL, "/admin/paused", "paused", True),
    ("health_checks_off", "unchecked", EDGE_URL, "/admin/health-checks", "enabled", False),
]
IDS = [s[0] for s in SWITCHES]


@pytest.mark.parametrize(("kind", "attr", "url", "path", "field", "off"), SWITCHES, ids=IDS)
def test_plan_reads_the_switch_and_changes_nothing(
    fake: FakeSandbox, drivers: FakeDrivers, kind: str, attr: str, url: str, path: str, field: str, off: bool
) -> None:
    plan = engine.plan(kind, CONF, {"dc": "dc2"}, drivers)

    assert plan.key == f"{kind}:dc2"
    assert plan.dcs == ("dc2",)
    assert plan.undo == {"instance": "fake-instance-1", "url": url, "dc": "dc2", "was_on": True}
    assert fake.writes == []
    assert getattr(fake, attr) == set()


@pytest.mark.parametrize(("kind", "attr", "url", "path", "field", "off"), SWITCHES, ids=IDS)
def test_inject_turns_it_off_for_that_dc_only_and_records_it(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    attr: str,
    url: str,
    path: str,
    field: str,
    off: bool,
) -> None:
    result = inject(kind, {"dc": "dc1"}, drivers, ledger)

    assert getattr(fake, attr) == {"dc1"}
    assert {k: result[k] for k in ("dc", "previous", "now")} == {"dc": "dc1", "previous": "on", "now": "off"}
    assert [(c.url, c.body) for c in fake.writes] == [(f"{url}{path}", {"dc": "dc1", field: off})]
    (record,) = ledger.history()
    assert (record.fault.kind, record.reverted_at) == (kind, None)


@pytest.mark.parametrize(("kind", "attr", "url", "path", "field", "off"), SWITCHES, ids=IDS)
def test_remove_and_revert_turn_it_back_on(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    attr: str,
    url: str,
    path: str,
    field: str,
    off: bool,
) -> None:
    inject(kind, {"dc": "dc1"}, drivers, ledger)
    out = engine.remove(kind, CONF, {"dc": "dc1"}, drivers=drivers, ledger=ledger)
    assert out["ledger_entries_closed"] == 1
    assert getattr(fake, attr) == set()
    assert ledger.history()[0].how == "rollback"

    inject(kind, {"dc": "dc2"}, drivers, ledger)
    fault = [f for f in Ledger(ledger.path).replay() if f.undo["dc"] == "dc2"][-1]
    engine.revert(fault, FakeDrivers(fake))  # from the ledger record alone
    assert getattr(fake, attr) == set()


@pytest.mark.parametrize(("kind", "attr", "url", "path", "field", "off"), SWITCHES, ids=IDS)
def test_a_switch_the_component_ignores_is_not_applied_and_is_undone(
    tmp_path: Path, kind: str, attr: str, url: str, path: str, field: str, off: bool
) -> None:
    fake = FakeSandbox(switches_ignored=True)
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match="still on"):
        inject(kind, {"dc": "dc1"}, FakeDrivers(fake), ledger)

    assert ledger.history()[0].how == "injection-failed"
    assert [c.body for c in fake.writes] == [{"dc": "dc1", field: off}, {"dc": "dc1", field: not off}]


@pytest.mark.parametrize(("kind", "attr", "url", "path", "field", "off"), SWITCHES, ids=IDS)
def test_refused_before_anything_when_stacked_unknown_or_outside_the_allowlist(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    kind: str,
    attr: str,
    url: str,
    path: str,
    field: str,
    off: bool,
) -> None:
    with pytest.raises(ActivityFailed, match=r"reaches \['dc1'\]"):
        inject(kind, {"dc": "dc1"}, drivers, ledger, chaosdrill_allow_dcs=["dc2"])
    with pytest.raises(BadInput, match="not a data center") as err:
        inject(kind, {"dc": "dc9"}, drivers, ledger)
    assert err.value.field == "dc"
    assert ledger.history() == [] and fake.writes == []

    getattr(fake, attr).add("dc1")  # switched off by hand before the drill
    with pytest.raises(BadInput, match="off already"):
        inject(kind, {"dc": "dc1"}, drivers, ledger)
    assert ledger.history() == [] and fake.writes == []


def test_a_sandbox_without_the_component_is_refused(tmp_path: Path) -> None:
    fake = FakeSandbox()
    fake.state["autoscaler"] = None
    with pytest.raises(FaultNotApplied, match="runs no autoscaler"):
        inject("autoscaler_paused", {"dc": "dc1"}, FakeDrivers(fake), Ledger(tmp_path / "l.jsonl"))
