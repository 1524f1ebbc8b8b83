"""SLO, error-budget and burn-rate math, as pure functions.

Definitions follow the Google SRE workbook ("Alerting on SLOs"): the error budget is
``1 - slo``; the burn rate is the error ratio divided by the budget (1.0 spends the
budget exactly over the SLO period); a multi-window alert fires only when both a long
and a short window burn faster than the threshold, so a brief blip does not page and a
recovered incident stops paging quickly.
"""

from dataclasses import dataclass

__all__ = [
    "BurnVerdict",
    "SloOverrides",
    "availability",
    "budget_consumed",
    "burn_rate",
    "multiwindow_breach",
]


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
