"""SLO probes over the live load measurements: availability, a latency percentile, and
the share of the error budget consumed.

Availability counts ok and degraded answers as good (a marked fallback is a served
request) and 5xx, resets and timeouts as bad; 429s are neither, since a rate limit is
the service keeping its promise to everyone else. ``window`` picks the period:
``run`` (all the load so far), ``fault`` (while the latest fault was active) or
``after`` (since it was reverted).
"""

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence
from chaosdrill import slo as slo_math

__all__ = ["availability_at_least", "error_budget_consumed_at_most", "latency_percentile_at_most", "measure"]


def _tenants(tenants: list[str] | None) -> list[str] | None:
    return tenants or None


def measure(
    window: str = "run",
    tenants: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Totals by outcome, error reasons and latency percentiles over ``window`` (for tolerances)."""
    return evidence.summary(window, _tenants(tenants)).to_dict()


def _served_ratio(window: str, tenants: list[str] | None) -> tuple[float, int]:
    s = evidence.summary(window, _tenants(tenants))
    # 429s are excluded: they are the limiter doing its job.
    ratio = slo_math.availability(s.good, s.error)
    if ratio is None:
        raise ActivityFailed(f"no requests completed in window {window!r} for tenants {tenants or 'all'}")
    return ratio, s.good + s.error


def availability_at_least(
    target: float = 0.995,
    window: str = "run",
    tenants: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Assert (ok + degraded) / (ok + degraded + errors) >= ``target`` over ``window``."""
    ratio, n = _served_ratio(window, tenants)
    if ratio < target:
        raise ActivityFailed(
            f"availability of tenants {tenants or 'all'} over window {window!r} is {ratio:.4%} "
            f"over {n} requests, below the SLO target {target:.4%}"
        )
    return True


def latency_percentile_at_most(
    percentile: float = 99.0,
    max_ms: float = 1000.0,
    window: str = "run",
    tenants: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Assert the ``percentile`` latency of good answers (from scheduled send) <= ``max_ms``."""
    s = evidence.summary(window, _tenants(tenants))
    value = s.percentile(percentile, good_only=True)
    if value is None:
        raise ActivityFailed(f"no good answers in window {window!r} to take p{percentile:g} of")
    if value * 1000 > max_ms:
        raise ActivityFailed(
            f"p{percentile:g} latency of tenants {tenants or 'all'} over window {window!r} is "
            f"{value * 1000:.1f} ms, above the bound {max_ms:g} ms"
        )
    return True


def error_budget_consumed_at_most(
    slo: float = 0.995,
    max_fraction: float = 1.0,
    window: str = "run",
    tenants: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Assert the errors over ``window`` used at most ``max_fraction`` of the budget (1 - slo)."""
    ratio, n = _served_ratio(window, tenants)
    consumed = slo_math.budget_consumed(ratio, slo)
    if consumed > max_fraction:
        raise ActivityFailed(
            f"error budget of SLO {slo:.3%} consumed {consumed:.2f}x over window {window!r} "
            f"({n} requests), above the allowed {max_fraction:g}x"
        )
    return True
