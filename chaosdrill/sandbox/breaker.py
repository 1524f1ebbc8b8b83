"""A circuit breaker per upstream pool: closed -> open -> half-open -> closed.

It trips on the failure *ratio* over a rolling window (with a minimum volume, so three
unlucky requests at night do not open it), stays open for ``open_s``, then lets a few
probe requests through; all probes succeeding closes it, any failure re-opens it.
Transitions are timestamped so probes can check "opened within T of the fault".
"""

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Breaker", "BreakerState", "Transition"]


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Transition:
    at: float  # wall-clock epoch seconds, comparable with journal and measurements
    state: BreakerState


class Breaker:
    def __init__(
        self,
        window_s: float,
        min_requests: int,
        failure_ratio: float,
        open_s: float,
        half_open_probes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_s = window_s
        self.min_requests = min_requests
        self.failure_ratio = failure_ratio
        self.open_s = open_s
        self.half_open_probes = max(1, half_open_probes)
        self.enabled = True
        self._clock = clock
        self._events: deque[tuple[float, bool]] = deque()
        self._failures = 0
        self.state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_out = 0
        self._probes_ok = 0
        self.transitions: deque[Transition] = deque(maxlen=256)

    def _to(self, state: BreakerState) -> None:
        self.state = state
        self.transitions.append(Transition(self._clock(), state))

    def allow(self) -> bool:
        """May a request go to this pool now? Half-open admits a bounded number of probes."""
        if not self.enabled:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.open_s:
                return False
            self._to(BreakerState.HALF_OPEN)
            self._probes_out = self._probes_ok = 0
        if self.state is BreakerState.HALF_OPEN:
            if self._probes_out >= self.half_open_probes:
                return False
            self._probes_out += 1
        return True

    def record(self, success: bool) -> None:
        now = self._clock()
        if self.state is BreakerState.HALF_OPEN:
            if not success:
                self._trip(now)
                return
            self._probes_ok += 1
            if self._probes_ok >= self.half_open_probes:
                self._events.clear()
                self._failures = 0
                self._to(BreakerState.CLOSED)
            return
        self._events.append((now, success))
        self._failures += 0 if success else 1
        while self._events and now - self._events[0][0] > self.window_s:
            _, ok = self._events.popleft()
            self._failures -= 0 if ok else 1
        if (
            self.enabled
            and self.state is BreakerState.CLOSED
            and len(self._events) >= self.min_requests
            and self._failures / len(self._events) >= self.failure_ratio
        ):
            self._trip(now)

    def _trip(self, now: float) -> None:
        self._opened_at = now
        self._events.clear()
        self._failures = 0
        self._to(BreakerState.OPEN)
