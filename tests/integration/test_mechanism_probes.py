"""Every mechanism probe called directly against the real sandbox, in the four situations that
make its verdict worth having: before the method it is skipped; after the method with no fault
it fails; with the fault and the defence working it passes, with its family and timings in
the result; with the defence switched off it fails.

Each test opens its own run (run id, phase, run directory) and its own load, as the ledger and
load controls do in a chaos run, and reverts whatever it injected. The "defence off" case runs
first: the mechanism queries look back 15 s, so a working defence just before would leak into it.
"""

import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from actions import datacenters, defences, latency, traffic
from chaosdrill import evidence, runctx, telemetry
from chaosdrill.controls import load as load_control
from chaosdrill.ledger import default_ledger
from chaosdrill.recovery import revert_faults
from chaosdrill.sandbox import lifecycle
from probes import autoscaling, breaker, failover, fallback, ratelimit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CONF: dict[str, Any] = {"chaosdrill_target": "sandbox"}
STEADY = [
    {"name": "chat", "tenant": "acme", "priority": "interactive", "rate": 60, "users": 300},
    {"name": "assistant", "tenant": "globex", "priority": "interactive", "rate": 30, "users": 300},
]
SURGE = [
    {"name": "chat", "tenant": "acme", "priority": "interactive", "rate": 40, "users": 300},
    {"name": "assistant", "tenant": "globex", "priority": "interactive", "rate": 10, "users": 300},
    {"name": "burst", "tenant": "burst", "priority": "interactive", "rate": 30, "users": 300},
]


class Run:
    """One run's context, as the ledger control sets it; ``fresh`` starts the next run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.monkeypatch = monkeypatch
        # The load control sets the measurements variable in os.environ itself; register it
        # with monkeypatch so it is gone after the test (a later test's `chaos run` inherits
        # this process's environment and would judge these measurements).
        monkeypatch.setenv(runctx.MEASUREMENTS_ENV, "")
        monkeypatch.delenv(runctx.MEASUREMENTS_ENV)
        self.tmp_path = tmp_path
        self.ids: list[str] = []
        self.fresh()

    def fresh(self) -> None:
        run_id = f"probe-test-{len(self.ids)}-{time.time_ns()}"
        self.ids.append(run_id)
        self.monkeypatch.setenv(runctx.RUN_ID_ENV, run_id)
        self.monkeypatch.setenv(runctx.RUN_DIR_ENV, str(self.tmp_path / run_id))
        self.phase(runctx.Phase.BEFORE)

    def phase(self, phase: runctx.Phase) -> None:
        self.monkeypatch.setenv(runctx.PHASE_ENV, phase.value)

    def method(self) -> None:
        self.phase(runctx.Phase.METHOD)

    def after(self) -> None:
        self.phase(runctx.Phase.AFTER)

    def revert_all(self) -> None:
        for run_id in self.ids:
            active = default_ledger().active(run_id=run_id)
            if active:
                revert_faults(active, how="test-teardown")


@pytest.fixture
def run(sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Run]:
    r = Run(monkeypatch, tmp_path)
    try:
        yield r
    finally:
        load_control.cleanup_control()
        r.revert_all()


def start_load(streams: list[dict[str, Any]]) -> None:
    load_control.before_experiment_control(
        None, profile={"streams": streams}, warmup_s=2, max_duration_s=240, configuration=CONF
    )


def restart_load(run: Run, streams: list[dict[str, Any]]) -> None:
    """A new run with its own measurements, as a new chaos run would have."""
    load_control.cleanup_control()
    run.fresh()
    start_load(streams)


def skipped_then_failing_without_a_fault(run: Run, call: Callable[[], dict[str, Any]]) -> None:
    run.phase(runctx.Phase.BEFORE)
    assert call()["skipped"]
    run.after()
    with pytest.raises(ActivityFailed, match=r"no .*fault was injected"):
        call()


def settle_breaker(dc: str, pool: str, timeout_s: float = 30.0) -> None:
    """Wait (bounded) until the breaker's mechanism query is false now: a breaker an earlier
    test left open (the guardrail test drives errors just before this file) would otherwise
    count as "opened" at the fault's injection, and the breaker-off case could not fail."""
    query = telemetry.mechanism("breaker_open", CONF, dc=dc, pool=pool)
    if query is None:
        return
    deadline = time.monotonic() + timeout_s
    while telemetry.is_true_now(query, CONF, None):
        assert time.monotonic() < deadline, f"breaker {dc}/{pool} still open after {timeout_s:g}s: {query}"
        time.sleep(0.5)


def test_breaker_probes(run: Run) -> None:
    start_load(STEADY)
    settle_breaker("dc1", "az-a")  # under load: a breaker left half-open closes on traffic
    opened = partial(breaker.breaker_opened_within, "dc1", "az-a", 5, "latency", configuration=CONF)
    skipped_then_failing_without_a_fault(run, opened)

    # breaker off: 800 ms on az-a trips nothing
    run.method()
    defences.disable_defences("dc1", breaker=True, configuration=CONF)
    settle_breaker("dc1", "az-a")
    latency.add_latency(800, dc="dc1", az="az-a", configuration=CONF)
    time.sleep(7)
    latency.remove_latency(dc="dc1", az="az-a", configuration=CONF)
    defences.restore_defences("dc1", configuration=CONF)
    run.after()
    try:
        got = opened()
    except ActivityFailed as e:
        assert re.search(r"did not open within 5s|never opened", str(e)), str(e)
    else:
        pytest.fail(f"the breaker-off case passed: {got}")

    # breaker on: it opens, and closes after the revert
    restart_load(run, STEADY)
    run.method()
    latency.add_latency(800, dc="dc1", az="az-a", configuration=CONF)
    time.sleep(7)
    latency.remove_latency(dc="dc1", az="az-a", configuration=CONF)
    time.sleep(10)
    run.after()
    result = opened()
    assert result["ok"] and result["mechanism"] == "breaker"
    assert 0 <= result["opened_after_s"] <= 5
    closed = breaker.breaker_closed_within("dc1", "az-a", 10, "latency", configuration=CONF)
    assert closed["mechanism"] == "breaker" and 0 <= closed["closed_after_s"] <= 10


def test_fallback_probe_counts_the_named_dc_only(run: Run) -> None:
    start_load(STEADY)
    served = partial(fallback.fallback_served_while_open, "dc1", "az-a", configuration=CONF)
    skipped_then_failing_without_a_fault(run, served)

    # fallback off on dc1: its breaker opens, but no degraded answer comes from dc1
    run.method()
    defences.disable_defences("dc1", fallback=True, configuration=CONF)
    latency.add_latency(800, dc="dc1", az="az-a", configuration=CONF)
    time.sleep(7)
    latency.remove_latency(dc="dc1", az="az-a", configuration=CONF)
    defences.restore_defences("dc1", configuration=CONF)
    run.after()
    with pytest.raises(ActivityFailed, match=r"served no fallback|0 degraded answers from dc1"):
        served()
    time.sleep(16)  # past the mechanism queries' 15 s look-back

    # fallback on in dc1, and dc2 (both AZs slow) serving many more degraded answers
    restart_load(run, STEADY)
    run.method()
    latency.add_latency(800, dc="dc2", az="*", configuration=CONF)
    latency.add_latency(800, dc="dc1", az="az-a", configuration=CONF)
    time.sleep(7)
    latency.remove_latency(dc="dc1", az="az-a", configuration=CONF)
    latency.remove_latency(dc="dc2", az="*", configuration=CONF)
    run.after()
    result = served()
    assert result["ok"] and result["mechanism"] == "fallback" and result["dc"] == "dc1"
    assert result["degraded_counted_from"] == "dc1"
    assert 0 <= result["opened_after_s"] <= 7 and 0 <= result["fallback_after_s"] <= 7
    mine = result["degraded_during_fault"]
    everyone = evidence.summary("run").degraded
    # dc2's degraded answers are many more than dc1's, and the probe must not count them:
    # asking for one more than dc1 gave fails, although users got far more than that in all.
    assert everyone > mine + 20, (everyone, mine)
    with pytest.raises(ActivityFailed, match=f"{mine} degraded answers from dc1"):
        served(min_degraded=mine + 1)


def test_ratelimit_probe(run: Run) -> None:
    start_load(SURGE)
    limited = partial(ratelimit.tenant_rate_limited, "burst", min_rejected=50, configuration=CONF)
    skipped_then_failing_without_a_fault(run, limited)

    run.method()
    for dc in ("dc1", "dc2", "dc3"):
        defences.disable_defences(dc, rate_limit=True, configuration=CONF)
    traffic.surge(5, stream="burst", configuration=CONF)
    time.sleep(8)
    traffic.end_surge(stream="burst", configuration=CONF)
    for dc in ("dc1", "dc2", "dc3"):
        defences.restore_defences(dc, configuration=CONF)
    run.after()
    with pytest.raises(ActivityFailed, match=r"tenant burst got \d+ 429s"):
        limited()

    restart_load(run, SURGE)
    run.method()
    traffic.surge(5, stream="burst", configuration=CONF)
    time.sleep(8)
    traffic.end_surge(stream="burst", configuration=CONF)
    run.after()
    result = limited()
    assert result["ok"] and result["mechanism"] == "rate_limit" and result["rejected"] >= 50
    assert 0 <= result["first_429_after_s"] <= 8 and 0 <= result["limited_after_s"] <= 8


def test_autoscaling_probe(run: Run) -> None:
    start_load(SURGE)

    def reached(within: float) -> dict[str, Any]:
        return autoscaling.replicas_reached("*", "*", 3, within, configuration=CONF)

    skipped_then_failing_without_a_fault(run, partial(reached, 25))
    settle_pools()  # an earlier test's surge may have left pools above 2

    run.method()
    for dc in ("dc1", "dc2", "dc3"):
        defences.pause_autoscaler(dc, configuration=CONF)
    traffic.surge(5, stream="burst", configuration=CONF)
    time.sleep(20)
    run.after()
    with pytest.raises(ActivityFailed, match="reached 3"):
        reached(20)
    traffic.end_surge(stream="burst", configuration=CONF)
    for dc in ("dc1", "dc2", "dc3"):
        defences.resume_autoscaler(dc, configuration=CONF)

    restart_load(run, SURGE)
    run.method()
    traffic.surge(5, stream="burst", configuration=CONF)
    time.sleep(25)
    traffic.end_surge(stream="burst", configuration=CONF)
    run.after()
    result = reached(25)
    assert result["ok"] and result["mechanism"] == "autoscaling" and 0 <= result["after_s"] <= 25
    timeline = result["replicas"]
    assert timeline and all(len(p) == 2 for p in timeline)
    assert max(n for _, n in timeline) > timeline[0][1], timeline  # the replicas rose

    # a pool still at 3 from that surge proves nothing about the next one
    restart_load(run, SURGE)
    run.method()
    traffic.surge(5, stream="burst", configuration=CONF)
    run.after()
    with pytest.raises(ActivityFailed, match="already before the fault"):
        reached(25)
    traffic.end_surge(stream="burst", configuration=CONF)


def settle_pools(timeout_s: float = 90.0) -> None:
    """Wait until every pool is back at its resting 2 replicas."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pools = [p for info in lifecycle.require_state()["dcs"].values() for p in info["azs"].values()]
        if all(p["desired"] <= 2 for p in pools):
            time.sleep(2)  # and scraped so
            return
        time.sleep(1)
    raise AssertionError(f"pools did not settle at 2 replicas within {timeout_s:g}s")


def test_failover_probe(run: Run) -> None:
    start_load(STEADY)
    over = partial(failover.failed_over_within, "dc2", 5, configuration=CONF)
    skipped_then_failing_without_a_fault(run, over)

    run.method()
    defences.disable_health_checks("dc2", configuration=CONF)
    datacenters.dc_failover("dc2", configuration=CONF)
    time.sleep(6)
    run.after()
    with pytest.raises(ActivityFailed, match=r"was not failed over within the RTO|never failed dc2 over"):
        over()
    datacenters.dc_failover_rollback("dc2", configuration=CONF)
    defences.restore_health_checks("dc2", configuration=CONF)
    time.sleep(4)

    restart_load(run, STEADY)
    run.method()
    datacenters.dc_failover("dc2", configuration=CONF)
    time.sleep(6)
    datacenters.dc_failover_rollback("dc2", configuration=CONF)
    time.sleep(5)
    run.after()
    result = over()
    assert result["ok"] and result["mechanism"] == "failover" and 0 <= result["rto_s"] <= 5
    back = failover.failed_back_within("dc2", 10, configuration=CONF)
    assert back["mechanism"] == "failover" and 0 <= back["failback_s"] <= 10
