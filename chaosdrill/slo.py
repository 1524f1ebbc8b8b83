"""SLO, error-budget and burn-rate math, as pure functions.

Definitions follow the Google SRE workbook ("Alerting on SLOs"): the error budget is
``1 - slo``; the burn rate is the error ratio divided by the budget (1.0 spends the
budget exactly over the SLO period); a multi-window alert fires only when both a long
and a short window burn faster than the threshold, so a brief blip does not page and a
recovered incident stops paging quickly.

Budget minutes (``budget_spend``): at SLO ``s`` over a period of ``D`` days the budget is
``(1 - s) * D * 1440`` minutes of full outage (99.95 % over 30 days: 21.6 min). A window of
``d`` seconds whose error ratio is ``r`` spends ``r * d / 60`` of those minutes: with steady
traffic, ``r`` of its requests failing costs the same as ``r * d`` seconds of total outage.
Its share of the budget is the ratio of the two, which is also ``burn_rate * d / (D * 86400)``.

Baseline comparisons (``ratio_drop``, ``latency_rise``): a fault window judged against the
same load measured before the fault, as an allowed drop in good ratio (in ratio points:
0.005 is half a percentage point) and an allowed rise in a latency percentile (in
milliseconds, or as a factor of the baseline).
"""

from dataclasses import dataclass

__all__ = [
    "BUDGET_PERIOD_DAYS",
    "BudgetSpend",
    "BurnVerdict",
    "LatencyRise",
    "SloOverrides",
    "availability",
    "bad_minutes",
    "budget_consumed",
    "budget_minutes",
    "budget_spend",
    "burn_rate",
    "latency_rise",
    "multiwindow_breach",
    "ratio_drop",
]

BUDGET_PERIOD_DAYS = 30.0
MINUTES_PER_DAY = 24 * 60


def availability(good: int, bad: int) -> float | None:
    """good / (good + bad); None with no evidence. Callers decide what counts as good."""
    total = good + bad
    return None if total == 0 else good / total


def _budget(slo: float) -> float:
    if not 0.0 < slo < 1.0:
        raise ValueError(f"an SLO target must be strictly between 0 and 1, got {slo}")
    return 1.0 - slo


def budget_consumed(observed_availability: float, slo: float) -> float:
    """How many error budgets the observed error ratio amounts to over the same period."""
    return (1.0 - observed_availability) / _budget(slo)


def burn_rate(error_ratio: float, slo: float) -> float:
    return error_ratio / _budget(slo)


@dataclass(frozen=True)
class BurnVerdict:
    short_burn: float | None
    long_burn: float | None
    limit: float

    @property
    def breached(self) -> bool:
        return (
            self.short_burn is not None
            and self.long_burn is not None
            and self.short_burn >= self.limit
            and self.long_burn >= self.limit
        )


def multiwindow_breach(
    short_error_ratio: float | None, long_error_ratio: float | None, slo: float, limit: float
) -> BurnVerdict:
    """Both windows must burn at ``limit`` or faster for a breach."""
    short = None if short_error_ratio is None else burn_rate(short_error_ratio, slo)
    long_ = None if long_error_ratio is None else burn_rate(long_error_ratio, slo)
    return BurnVerdict(short, long_, limit)


def budget_minutes(slo: float, period_days: float = BUDGET_PERIOD_DAYS) -> float:
    """The error budget of ``period_days`` at ``slo``, in minutes of full outage:
    ``(1 - slo) * period_days * 1440`` (99.95 % over 30 days: 21.6)."""
    if not period_days > 0:
        raise ValueError(f"a budget period must be > 0 days, got {period_days}")
    return _budget(slo) * period_days * MINUTES_PER_DAY


def bad_minutes(error_ratio: float, duration_s: float) -> float:
    """Minutes of full outage that an error ratio over ``duration_s`` seconds amounts to:
    ``error_ratio * duration_s / 60``."""
    if not 0.0 <= error_ratio <= 1.0:
        raise ValueError(f"an error ratio must be between 0 and 1, got {error_ratio}")
    if duration_s < 0:
        raise ValueError(f"a duration must be >= 0 s, got {duration_s}")
    return error_ratio * duration_s / 60.0


@dataclass(frozen=True)
class BudgetSpend:
    """What a window spent of a period's error budget, in minutes."""

    slo: float
    period_days: float
    error_ratio: float
    duration_s: float
    budget_min: float  # the whole period's budget
    consumed_min: float  # what the window spent of it

    @property
    def share(self) -> float:
        """consumed_min / budget_min: 1.0 is the whole period's budget."""
        return self.consumed_min / self.budget_min

    def to_dict(self) -> dict[str, float]:
        return {
            "slo": self.slo,
            "period_days": self.period_days,
            "error_ratio": self.error_ratio,
            "duration_s": self.duration_s,
            "budget_min": self.budget_min,
            "budget_consumed_min": self.consumed_min,
            "budget_share": self.share,
        }


def budget_spend(
    error_ratio: float, duration_s: float, slo: float, period_days: float = BUDGET_PERIOD_DAYS
) -> BudgetSpend:
    """The minutes of a ``period_days`` budget at ``slo`` spent by ``error_ratio`` over ``duration_s``."""
    return BudgetSpend(
        slo=slo,
        period_days=period_days,
        error_ratio=error_ratio,
        duration_s=duration_s,
        budget_min=budget_minutes(slo, period_days),
        consumed_min=bad_minutes(error_ratio, duration_s),
    )


def ratio_drop(baseline: float, observed: float) -> float:
    """How far a good ratio fell from its baseline, in ratio points (negative: it rose)."""
    for name, value in (("baseline", baseline), ("observed", observed)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"a {name} good ratio must be between 0 and 1, got {value}")
    return baseline - observed


@dataclass(frozen=True)
class LatencyRise:
    """A latency against its baseline, and the bounds it was judged by (None: not judged)."""

    baseline_ms: float
    observed_ms: float
    max_rise_ms: float | None
    max_factor: float | None

    @property
    def rise_ms(self) -> float:
        return self.observed_ms - self.baseline_ms

    @property
    def factor(self) -> float | None:
        """observed / baseline; None for a zero baseline (no factor is defined)."""
        return None if self.baseline_ms <= 0 else self.observed_ms / self.baseline_ms

    def violations(self) -> list[str]:
        """Each bound the latency broke, in words; empty when it is within every bound."""
        out = []
        if self.max_rise_ms is not None and self.rise_ms > self.max_rise_ms:
            out.append(f"rose {self.rise_ms:.1f} ms, more than {self.max_rise_ms:g} ms")
        factor = self.factor
        if self.max_factor is not None and (
            (factor is None and self.observed_ms > 0) or (factor is not None and factor > self.max_factor)
        ):
            shown = "an infinite factor" if factor is None else f"{factor:.2f}x"
            out.append(f"rose to {shown} of its baseline, more than {self.max_factor:g}x")
        return out


def latency_rise(
    baseline_ms: float, observed_ms: float, max_rise_ms: float | None = None, max_factor: float | None = None
) -> LatencyRise:
    """Judge a latency against its baseline by an allowed rise in ms, a factor, or both
    (each bound given must hold); at least one bound is required."""
    if max_rise_ms is None and max_factor is None:
        raise ValueError("give max_rise_ms, max_factor or both")
    if baseline_ms < 0 or observed_ms < 0:
        raise ValueError(f"latencies must be >= 0, got {baseline_ms} and {observed_ms}")
    if max_rise_ms is not None and max_rise_ms < 0:
        raise ValueError(f"max_rise_ms must be >= 0, got {max_rise_ms}")
    if max_factor is not None and max_factor < 1:
        raise ValueError(f"max_factor must be >= 1, got {max_factor}")
    return LatencyRise(baseline_ms, observed_ms, max_rise_ms, max_factor)


@dataclass(frozen=True)
class SloOverrides:
    """SLO targets that override every experiment's configuration for this drill.

    They reach the experiments as configuration keys ``slo_availability`` and
    ``slo_latency_p99_ms``; the report also judges the measured windows against them.
    """

    availability: float | None = None
    latency_p99_ms: float | None = None

    def as_configuration(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.availability is not None:
            out["slo_availability"] = self.availability
        if self.latency_p99_ms is not None:
            out["slo_latency_p99_ms"] = self.latency_p99_ms
        return out
