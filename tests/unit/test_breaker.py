import pytest

from chaosdrill.sandbox.breaker import Breaker, BreakerState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> Breaker:
    return Breaker(window_s=5, min_requests=4, failure_ratio=0.5, open_s=2, half_open_probes=2, clock=clock)


def test_needs_minimum_volume_before_tripping() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(3):
        b.record(False)
    assert b.state is BreakerState.CLOSED
    b.record(False)
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_ratio_below_threshold_stays_closed() -> None:
    clock = Clock()
    b = make(clock)
    for ok in [True, True, True, False, True, True, False]:
        b.record(ok)
    assert b.state is BreakerState.CLOSED


def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(3):
        b.record(False)
    clock.now += 6
    b.record(False)
    assert b.state is BreakerState.CLOSED  # only one failure is inside the window


def test_half_open_admits_bounded_probes_and_closes_on_success() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 2.1
    assert b.allow() and b.state is BreakerState.HALF_OPEN
    assert b.allow()
    assert not b.allow()  # only two probes
    b.record(True)
    b.record(True)
    assert b.state is BreakerState.CLOSED
    assert [t.state for t in b.transitions] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    assert b.transitions[0].at == 1000.0


def test_failed_probe_reopens() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(4):
        b.record(False)
    clock.now += 2.1
    assert b.allow()
    b.record(False)
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_disabled_breaker_never_opens() -> None:
    clock = Clock()
    b = make(clock)
    b.enabled = False
    for _ in range(50):
        b.record(False)
    assert b.state is BreakerState.CLOSED and b.allow()
