"""``chaosdrill_max_concurrent_faults``: the engine refuses an injection that would make more
faults active at once than the cap, before anything is recorded or injected; preflight counts
the method's faults in run order and reports the same. Against the fake sandbox."""

import pytest
from fakes.sandbox_api import FakeDrivers, FakeSandbox

from chaosdrill import preflight
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.faults import blast, engine
from chaosdrill.faults.kind import Env
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_an_injection_past_the_cap_is_refused_before_anything(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger, chaosdrill_max_concurrent_faults=1)
    writes = len(fake.writes)
    with pytest.raises(
        ActivityFailed, match=r"zone_outage zone_outage:dc2-az-a would be fault 2 active at once"
    ) as caught:
        inject("zone_outage", {"zone": "dc2-az-a"}, drivers, ledger, chaosdrill_max_concurrent_faults=1)
    assert "chaosdrill_max_concurrent_faults 1" in str(caught.value)
    assert "active: zone_outage zone_outage:dc1-az-a" in str(caught.value)
    assert len(fake.writes) == writes  # nothing injected
    assert len(ledger.history()) == 1  # nothing recorded
    with pytest.raises(ActivityFailed, match="would be fault 2"):  # an instant kill counts too
        inject("pod_kill", {"selector": "dc=dc2"}, drivers, ledger, chaosdrill_max_concurrent_faults=1)
    assert fake.kills == []

    engine.remove("zone_outage", CONF, {"zone": "dc1-az-a"}, drivers=drivers, ledger=ledger)
    inject("zone_outage", {"zone": "dc2-az-a"}, drivers, ledger, chaosdrill_max_concurrent_faults=1)
    assert len(ledger.active()) == 1


def test_under_the_cap_faults_stack_up_to_it(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    for zone in ("dc1-az-a", "dc2-az-a"):
        inject("zone_outage", {"zone": zone}, drivers, ledger, chaosdrill_max_concurrent_faults=2)
    with pytest.raises(ActivityFailed, match="would be fault 3 active at once"):
        inject("zone_outage", {"zone": "dc2-az-b"}, drivers, ledger, chaosdrill_max_concurrent_faults=2)
    assert len(ledger.active()) == 2


@pytest.mark.parametrize("cap", [0, -1, 1.5, True, "two"])
def test_a_bad_cap_is_bad_input_naming_the_key(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, cap: object
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("zone_outage", {"zone": "dc1-az-a"}, drivers, ledger, chaosdrill_max_concurrent_faults=cap)
    assert caught.value.field == "configuration.chaosdrill_max_concurrent_faults"
    assert ledger.history() == [] and fake.writes == []


def test_a_cap_from_an_environment_variable_is_read_as_a_number() -> None:
    assert blast.max_concurrent_faults({"chaosdrill_max_concurrent_faults": "3"}) == 3
    assert blast.max_concurrent_faults({}) is None


def _touch(where: str, activity: str, **args: object) -> preflight.Touch:
    return preflight.Touch(where, where, activity, "action", dict(args))


def test_preflight_counts_the_method_in_run_order(drivers: FakeDrivers) -> None:
    env = Env({**CONF, "chaosdrill_max_concurrent_faults": 2}, Target.SANDBOX, drivers)
    touches = [
        _touch("method[0]", "actions.zones.zone_outage", zone="dc1-az-a"),
        _touch("method[1]", "actions.pods.kill_pods", selector="dc=dc2"),  # instant: 2 at its moment
        _touch("method[2]", "actions.zones.zone_outage", zone="dc2-az-a"),  # 2 active: fine
        _touch("method[3]", "actions.zones.zone_outage", zone="dc2-az-b"),  # would be 3
        _touch("method[4]", "actions.zones.zone_outage_rollback", zone="dc1-az-a"),
        _touch("method[5]", "actions.zones.zone_outage", zone="dc1-az-b"),  # 2 again: fine
    ]
    preflight._check_concurrency(touches, env, active_now=0)
    assert [t.where for t in touches if t.problems] == ["method[3]"]
    assert (
        "would be fault 3 active at once, over the experiment's chaosdrill_max_concurrent_faults 2"
        in (touches[3].problems[0])
    )
    fresh = [_touch("method[0]", "actions.zones.zone_outage", zone="dc1-az-a")]
    preflight._check_concurrency(fresh, env, active_now=2)  # two left active in the ledger already
    assert fresh[0].problems and "would be fault 3" in fresh[0].problems[0]
