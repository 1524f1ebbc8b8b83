"""How probes read Prometheus' answers as verdicts, kept free of I/O so each rule is tested alone.

PromQL conditions filter: ``x > 5`` returns the series where it holds and nothing where it
does not. So an expression is *true* at an instant when its result is non-empty there, and
a range query answers "when was it true" as the timestamps where any series has a point.
Timestamps are compared in whole milliseconds, the precision Prometheus keeps.
"""

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chaosdrill.drivers.prometheus import Sample, Series
from chaosdrill.errors import BadInput

__all__ = [
    "MAX_POINTS",
    "Bounds",
    "alerts_selector",
    "describe",
    "first_point_after",
    "first_true",
    "fitting_step",
    "last_true",
    "ms",
    "quote",
    "step_times",
    "true_times",
    "violations",
]

MAX_POINTS = 10_000  # Prometheus refuses range queries beyond 11,000 points per series
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def ms(t: float) -> int:
    return round(t * 1000)


def quote(value: str) -> str:
    """A PromQL double-quoted string holding ``value`` exactly."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def alerts_selector(alert: str, labels: Mapping[str, str] | None = None, state: str = "firing") -> str:
    """``ALERTS{alertname="X", alertstate="firing", ...}``: the series Prometheus keeps for
    each pending or firing alert, at every rule evaluation."""
    matchers = {"alertname": alert, "alertstate": state, **(labels or {})}
    for name in matchers:
        if not _LABEL_NAME.match(name):
            raise BadInput("<argument>", "labels", f"{name!r} is not a Prometheus label name")
    return "ALERTS{" + ",".join(f"{k}={quote(str(v))}" for k, v in matchers.items()) + "}"


def describe(labels: Mapping[str, str]) -> str:
    """``{a="b",c="d"}`` (``{}`` for a scalar), for messages."""
    return "{" + ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items())) + "}"


@dataclass(frozen=True)
class Bounds:
    """Inclusive bounds; a missing side is open. NaN is within no bounds."""

    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise BadInput("<argument>", "low/high", "give at least one bound")
        for name, v in (("low", self.low), ("high", self.high)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v)):
                raise BadInput("<argument>", name, f"must be a number, got {v!r}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise BadInput("<argument>", "low/high", f"low ({self.low:g}) is above high ({self.high:g})")

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def outside(self, samples: Iterable[Sample]) -> list[Sample]:
        return [s for s in samples if not self.holds(s.value)]

    def __str__(self) -> str:
        if self.low is None:
            return f"<= {self.high:g}"
        if self.high is None:
            return f">= {self.low:g}"
        return f"within [{self.low:g}, {self.high:g}]"


def fitting_step(duration_s: float, step_s: float) -> float:
    """``step_s``, widened (to whole milliseconds) if the range would exceed :data:`MAX_POINTS`."""
    if duration_s / step_s <= MAX_POINTS:
        return step_s
    return math.ceil(duration_s * 1000 / MAX_POINTS) / 1000


def step_times(start: float, end: float, step_s: float) -> list[int]:
    """The instants (ms) a range query from ``start`` to ``end`` evaluates, as Prometheus does."""
    start_ms, end_ms, step_ms = ms(start), ms(end), max(1, ms(step_s))
    return list(range(start_ms, end_ms + 1, step_ms)) if end_ms >= start_ms else []


def true_times(series: Iterable[Series]) -> set[int]:
    """The instants (ms) where the expression had any result."""
    return {ms(t) for s in series for t, _ in s.points}


def first_true(series: Iterable[Series], after: float | None = None) -> float | None:
    """The first instant (seconds) the expression was true, at or after ``after``."""
    times = [t for t in true_times(series) if after is None or t >= ms(after)]
    return min(times) / 1000 if times else None


def last_true(series: Iterable[Series]) -> float | None:
    times = true_times(series)
    return max(times) / 1000 if times else None


def first_point_after(series: Iterable[Series], after: float) -> float | None:
    """The first raw sample strictly after ``after`` (a range selector's answer, e.g. ``ALERTS[5m]``)."""
    times = [t for t in true_times(series) if t > ms(after)]
    return min(times) / 1000 if times else None


def violations(
    series: Sequence[Series], start: float, end: float, step_s: float, expect: bool
) -> list[float]:
    """The instants (seconds) in ``[start, end]`` where the expression was not ``expect``."""
    present = true_times(series)
    return [t / 1000 for t in step_times(start, end, step_s) if (t in present) != expect]
