"""pod_kill on the sandbox: SIGKILL replica processes, through the engine, against the fake
sandbox's process table. Only signals and, where the kind waits out its deadline, the clock
are faked."""

import signal
from pathlib import Path
from typing import Any

import pytest
from fakes.sandbox_api import FakeClock, FakeDrivers, FakeSandbox

from chaosdrill import preflight
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults import engine
from chaosdrill.faults.kind import Env, Share
from chaosdrill.faults.kinds import pods
from chaosdrill.ledger import Ledger

from .sandbox_support import CONF, inject

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """pod_kill's wait for its victims to die runs on a clock that sleeping advances."""
    fake_time = FakeClock()
    monkeypatch.setattr(pods, "time", fake_time)
    return fake_time


def pids(fake: FakeSandbox, dc: str, az: str) -> list[int]:
    return [int(r["pid"]) for r in fake.replicas(dc, az)]


# ---------------------------------------------------------------------- pod_kill


def test_pod_kill_plan_names_its_victims_and_share_and_kills_nothing(
    fake: FakeSandbox, drivers: FakeDrivers
) -> None:
    a0, a1 = pids(fake, "dc1", "az-a")

    plan = engine.plan("pod_kill", CONF, {"selector": "dc=dc1", "count": 2}, drivers)

    assert plan.details == {
        "replicas": [{"name": "dc1-az-a-replica-0", "pid": a0}, {"name": "dc1-az-a-replica-1", "pid": a1}],
        "matched": ["dc1-az-a-replica-0", "dc1-az-a-replica-1", "dc1-az-b-replica-0"],
    }
    assert plan.share == Share(2, 3)
    assert plan.dcs == ("dc1",)
    assert plan.undo == {"instance": "fake-instance-1"}
    assert fake.kills == []
    assert fake.alive(a0) and fake.alive(a1)


def test_pod_kill_sigkills_the_victims_and_closes_its_entry_at_once(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    a0, a1 = pids(fake, "dc1", "az-a")
    (b0,) = pids(fake, "dc1", "az-b")

    result = inject("pod_kill", {"selector": "dc=dc1,az=az-a", "count": 2}, drivers, ledger)

    assert result["killed"] == ["dc1-az-a-replica-0", "dc1-az-a-replica-1"]
    assert result["matched"] == 2
    assert fake.kills == [(a0, signal.SIGKILL), (a1, signal.SIGKILL)]
    assert not fake.alive(a0) and not fake.alive(a1)
    assert fake.alive(b0)
    assert set(pids(fake, "dc1", "az-a")).isdisjoint({a0, a1})  # the supervisor respawned them
    (record,) = ledger.history()
    assert (record.fault.kind, record.fault.target, record.how) == ("pod_kill", "sandbox", "instant")
    assert record.fault.id == result["fault_id"]
    assert record.fault.key == "kill:dc=dc1,az=az-a"
    assert record.fault.undo == {"instance": "fake-instance-1"}
    assert ledger.active() == []


def test_pod_kill_percentage_rounds_up(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    result = inject("pod_kill", {"selector": "dc=dc1", "percentage": 50}, drivers, ledger)
    assert result["killed"] == ["dc1-az-a-replica-0", "dc1-az-a-replica-1"]  # ceil(3 x 50%) = 2


def test_pod_kill_of_a_replica_already_dead_is_fine(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    (b0,) = pids(fake, "dc1", "az-b")
    fake.processes[b0] = False  # died, and the state file does not know yet

    inject("pod_kill", {"selector": "dc=dc1,az=az-b"}, drivers, ledger)

    assert fake.kills == []
    assert ledger.history()[0].how == "instant"


def test_pod_kill_survivor_is_not_applied(tmp_path: Path, clock: FakeClock) -> None:
    fake = FakeSandbox()
    a0, a1 = pids(fake, "dc1", "az-a")
    fake.unkillable = {a1}
    ledger = Ledger(tmp_path / "ledger.jsonl")

    with pytest.raises(FaultNotApplied, match=r"replicas \['dc1-az-a-replica-1'\] survived SIGKILL"):
        inject("pod_kill", {"selector": "dc=dc1,az=az-a", "count": 2}, FakeDrivers(fake), ledger)

    assert clock.slept >= 2.0  # it waited out its deadline first
    assert not fake.alive(a0) and fake.alive(a1)
    (record,) = ledger.history()
    assert record.how == "injection-failed"


def test_pod_kill_has_nothing_to_undo(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    inject("pod_kill", {"selector": "dc=dc2", "count": 1}, drivers, ledger)
    (record,) = ledger.history()
    calls, kills = len(fake.calls), len(fake.kills)

    out = engine.remove("pod_kill", CONF, {"selector": "dc=dc2"}, drivers=drivers, ledger=ledger)
    engine.revert(record.fault, FakeDrivers(fake))
    fake.gone = True
    engine.revert(record.fault, drivers)

    assert out == {"ledger_entries_closed": 0}
    assert (len(fake.calls), len(fake.kills)) == (calls, kills)


@pytest.mark.parametrize(
    ("args", "conf", "refusal"),
    [
        ({"selector": "dc=dc1", "count": 1}, {"chaosdrill_allow_dcs": ["dc2"]}, r"reaches \['dc1'\]"),
        # no dc in the selector: the matched replicas' own labels say where they are
        (
            {"selector": "az=az-b", "count": 1},
            {"chaosdrill_allow_dcs": ["dc2"]},
            r"dc='dc1,dc2' reaches \['dc1'\]",
        ),
        ({"selector": "dc=dc1", "count": 2}, {"chaosdrill_max_percentage": 50}, r"touching 2 of 3 \(67%\)"),
        (
            {"selector": "dc=dc2", "percentage": 100},
            {"chaosdrill_max_percentage": 75},
            r"touching 4 of 4 \(100%\)",
        ),
        ({"selector": "dc=dc2", "percentage": 30}, {"chaosdrill_max_percentage": 25}, r"touching 2 of 4"),
    ],
)
def test_pod_kill_past_the_blast_radius_is_refused_before_anything(
    fake: FakeSandbox,
    drivers: FakeDrivers,
    ledger: Ledger,
    args: dict[str, Any],
    conf: dict[str, Any],
    refusal: str,
) -> None:
    with pytest.raises(ActivityFailed, match=refusal):
        inject("pod_kill", args, drivers, ledger, **conf)
    assert ledger.history() == []
    assert fake.kills == []


def test_pod_kill_within_the_cap_goes_ahead(fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger) -> None:
    inject("pod_kill", {"selector": "dc=dc2", "count": 1}, drivers, ledger, chaosdrill_max_percentage=25)
    assert len(fake.kills) == 1


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"selector": "dc=dc1", "count": -1}, "count"),
        ({"selector": "dc=dc1", "count": 1.5}, "count"),
        ({"selector": "dc=dc1", "count": True}, "count"),
        ({"selector": "dc=dc1", "percentage": 150}, "percentage"),
        ({"selector": "dc=dc1", "count": 1, "percentage": 10}, "count/percentage"),
        ({"selector": "dc"}, "selector"),
        ({"selector": "dc=dc1", "ttl_s": 30}, "ttl_s"),
    ],
)
def test_pod_kill_bad_arguments_are_refused_naming_the_field(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, args: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("pod_kill", args, drivers, ledger)
    assert caught.value.field == field
    assert ledger.history() == []
    assert fake.kills == []


def test_pod_kill_selecting_nothing_is_refused(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(ActivityFailed, match="matches no sandbox replica"):
        inject("pod_kill", {"selector": "dc=dc9"}, drivers, ledger)
    assert ledger.history() == []


# ---------------------------------------------------------------------- blast-radius holes (issue 11)


def test_pod_kill_selection_reaching_past_the_dc_allowlist_is_refused_though_its_victims_are_inside(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    """``az=az-a`` matches dc1's and dc2's az-a replicas; the first victim by name is in dc1,
    but the selection (and the share it is counted on) reaches dc2."""
    with pytest.raises(ActivityFailed, match=r"dc='dc1,dc2' reaches \['dc2'\], outside .* \['dc1'\]"):
        inject("pod_kill", {"selector": "az=az-a", "count": 1}, drivers, ledger, chaosdrill_allow_dcs=["dc1"])
    assert fake.kills == []
    assert ledger.history() == []


def test_pod_kill_preflight_reports_the_dc_allowlist(fake: FakeSandbox, drivers: FakeDrivers) -> None:
    activity = "actions.pods.kill_pods"
    env = Env({**CONF, "chaosdrill_allow_dcs": ["dc1"]}, Target.SANDBOX, drivers)
    args = {"selector": "az=az-a", "count": 1}
    touch = preflight._plan(
        activity, args, env, preflight.Touch("method[0]", "kill", activity, "action", args)
    )
    assert [p for p in touch.problems if "reaches ['dc2']" in p] != [], touch.problems
    inside = {"selector": "dc=dc1,az=az-a", "count": 1}
    touch = preflight._plan(
        activity, inside, env, preflight.Touch("method[0]", "kill", activity, "action", inside)
    )
    assert touch.problems == [] and touch.touches  # the same kill inside the allowlist is fine
    assert fake.kills == []


def test_pod_kill_with_neither_count_nor_percentage_kills_one(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    before = pids(fake, "dc2", "az-a") + pids(fake, "dc2", "az-b")
    result = inject("pod_kill", {"selector": "dc=dc2"}, drivers, ledger)
    assert result["killed"] == ["dc2-az-a-replica-0"] and result["matched"] == 4
    assert [pid for pid, _sig in fake.kills] == before[:1]


@pytest.mark.parametrize("selector", ["", " ", "component=replica", "dc=*", "dc=dc*,az=az-*"])
def test_pod_kill_selecting_every_replica_is_refused_unless_allow_all(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger, selector: str
) -> None:
    with pytest.raises(BadInput, match="allow_all: true") as caught:
        inject("pod_kill", {"selector": selector, "percentage": 100}, drivers, ledger)
    assert caught.value.field == "selector"
    assert fake.kills == []
    assert ledger.history() == []


def test_pod_kill_selecting_every_replica_with_allow_all_goes_ahead(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    result = inject("pod_kill", {"selector": "", "allow_all": True}, drivers, ledger)
    assert result["killed"] == ["dc1-az-a-replica-0"] and result["matched"] == 7  # still one by default
    assert len(fake.kills) == 1


def test_pod_kill_allow_all_must_be_a_boolean(
    fake: FakeSandbox, drivers: FakeDrivers, ledger: Ledger
) -> None:
    with pytest.raises(BadInput) as caught:
        inject("pod_kill", {"selector": "", "allow_all": "yes"}, drivers, ledger)
    assert caught.value.field == "allow_all"
    assert fake.kills == []
