"""SLO probes over the live load measurements: availability, a latency percentile, and
the share of the error budget consumed (and its minutes of a 30-day budget), and the
fault window judged against a baseline measured before the fault.

Availability counts ok and degraded answers as good (a marked fallback is a served
request) and 5xx, resets and timeouts as bad; 429s are neither, since a rate limit is
the service keeping its promise to everyone else. ``window`` picks the period:
``run`` (all the load so far), ``fault`` (while the latest fault was active) or
``after`` (since it was reverted).

The baseline (``good_ratio_drop_at_most``, ``latency_rise_at_most``) is the same load
before the run's first fault: every measurement window that ended at or before the
ledger's timestamp of the first fault injected in this run (of any kind), and with
``baseline_s`` only those that began at most that many seconds before it. A window that
straddles the injection belongs to neither side's baseline; it still counts in ``fault``
when its midpoint falls after the injection.
"""

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence
from chaosdrill import slo as slo_math
from chaosdrill.load.measurements import Summary

__all__ = [
    "availability_at_least",
    "error_budget_consumed_at_most",
    "error_budget_within",
    "good_ratio_drop_at_most",
    "latency_percentile_at_most",
    "latency_rise_at_most",
    "measure",
]

SKIPPED = "before the method: no fault yet, so no baseline to judge against"


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


def _spend(
    window: str, tenants: list[str] | None, slo: float, period_days: float
) -> tuple[slo_math.BudgetSpend, int]:
    s = evidence.summary(window, _tenants(tenants))
    ratio = slo_math.availability(s.good, s.error)
    if ratio is None:
        raise ActivityFailed(f"no requests completed in window {window!r} for tenants {tenants or 'all'}")
    try:
        spend = slo_math.budget_spend(1.0 - ratio, s.duration_s, slo, period_days)
    except ValueError as e:
        raise ActivityFailed(f"error budget: {e}") from e
    return spend, s.good + s.error


def error_budget_consumed_at_most(
    slo: float = 0.995,
    max_fraction: float = 1.0,
    window: str = "run",
    tenants: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Assert the errors over ``window`` used at most ``max_fraction`` of the budget (1 - slo).

    Returns True (for ``tolerance: true``); ``error_budget_within`` returns the figures,
    minutes of a 30-day budget included."""
    ratio, n = _served_ratio(window, tenants)
    consumed = slo_math.budget_consumed(ratio, slo)
    if consumed > max_fraction:
        spend, _ = _spend(window, tenants, slo, slo_math.BUDGET_PERIOD_DAYS)
        raise ActivityFailed(
            f"error budget of SLO {slo:.3%} consumed {consumed:.2f}x over window {window!r} "
            f"({n} requests), above the allowed {max_fraction:g}x; that is {spend.consumed_min:.3f} "
            f"of the 30-day budget's {spend.budget_min:.1f} minutes"
        )
    return True


def error_budget_within(
    slo: float = 0.995,
    max_fraction: float | None = None,
    max_minutes: float | None = None,
    window: str = "run",
    tenants: list[str] | None = None,
    period_days: float = slo_math.BUDGET_PERIOD_DAYS,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Report the error budget ``window`` spent, and assert it within the bounds given.

    ``budget_consumed`` is the burn: the error ratio over the budget (1 - slo), 1.0 being
    the budget spent exactly. ``budget_consumed_min`` is what the window spent of a
    ``period_days`` (30) budget, in minutes of full outage: error ratio x the window's
    seconds / 60, out of ``budget_min`` = (1 - slo) x period_days x 1440 (21.6 min at
    99.95 %). ``max_fraction`` bounds the burn, ``max_minutes`` the minutes; with neither,
    the probe only reports. Judge it with ``tolerance: {type: jsonpath, path: "$.ok", expect: true}``.
    """
    spend, n = _spend(window, tenants, slo, period_days)
    burn = slo_math.budget_consumed(1.0 - spend.error_ratio, slo)
    out = {
        "ok": True,
        "window": window,
        "tenants": tenants or "all",
        "requests": n,
        "budget_consumed": burn,
        **spend.to_dict(),
    }
    if max_fraction is not None and burn > max_fraction:
        raise ActivityFailed(
            f"error budget of SLO {slo:.3%} consumed {burn:.2f}x over window {window!r} ({n} requests), "
            f"above the allowed {max_fraction:g}x ({spend.consumed_min:.3f} min of the "
            f"{period_days:g}-day budget's {spend.budget_min:.1f})"
        )
    if max_minutes is not None and spend.consumed_min > max_minutes:
        raise ActivityFailed(
            f"window {window!r} spent {spend.consumed_min:.3f} min of the {period_days:g}-day error budget "
            f"({spend.budget_min:.1f} min at SLO {slo:.3%}), above the allowed {max_minutes:g} min"
        )
    return out


def _compared(
    window: str,
    tenants: list[str] | None,
    baseline_s: float | None,
    fault_kind: str | None,
) -> tuple[Summary, Summary]:
    if baseline_s is not None and baseline_s <= 0:
        raise ActivityFailed(f"baseline_s must be > 0 seconds, got {baseline_s!r}")
    baseline = evidence.baseline_summary(_tenants(tenants), baseline_s=baseline_s)
    observed = evidence.summary(window, _tenants(tenants), fault_kind=fault_kind)
    return baseline, observed


def _span(s: Summary, requests: int) -> dict:
    return {"t0": s.t0, "t1": s.t1, "requests": requests}


def _enough(what: str, n: int, min_requests: int, window: str) -> None:
    if n < min_requests:
        raise ActivityFailed(
            f"the {what} holds {n} requests, fewer than min_requests={min_requests}: "
            f"no evidence to compare window {window!r} with its baseline"
        )


def good_ratio_drop_at_most(
    max_drop: float = 0.005,
    window: str = "fault",
    tenants: list[str] | None = None,
    baseline_s: float | None = None,
    fault_kind: str | None = None,
    min_requests: int = 50,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the good ratio over ``window`` fell at most ``max_drop`` ratio points below
    its baseline (0.005 = half a percentage point), the same load before the run's first fault.

    Good ratio as ``availability_at_least`` counts it (429s left out). Both sides need at
    least ``min_requests`` requests. Before the method it passes as skipped. Returns
    ``{ok, baseline_good_ratio, good_ratio, drop, max_drop, baseline, observed}``; judge it
    with ``tolerance: {type: jsonpath, path: "$.ok", expect: true}``."""
    if evidence.before_method():
        return {"ok": True, "skipped": SKIPPED}
    if not 0.0 <= max_drop <= 1.0:
        raise ActivityFailed(f"max_drop must be between 0 and 1 (ratio points), got {max_drop!r}")
    baseline, observed = _compared(window, tenants, baseline_s, fault_kind)
    n_base, n_obs = baseline.good + baseline.error, observed.good + observed.error
    _enough("baseline", n_base, min_requests, window)
    _enough(f"window {window!r}", n_obs, min_requests, window)
    base_ratio = slo_math.availability(baseline.good, baseline.error)
    ratio = slo_math.availability(observed.good, observed.error)
    assert base_ratio is not None and ratio is not None  # both have requests
    drop = slo_math.ratio_drop(base_ratio, ratio)
    if drop > max_drop:
        raise ActivityFailed(
            f"good ratio of tenants {tenants or 'all'} over window {window!r} is {ratio:.4%} ({n_obs} requests), "
            f"{drop * 100:.3f} points below its baseline {base_ratio:.4%} ({n_base} requests before the first "
            f"fault); at most {max_drop * 100:g} points allowed"
        )
    return {
        "ok": True,
        "baseline_good_ratio": base_ratio,
        "good_ratio": ratio,
        "drop": drop,
        "max_drop": max_drop,
        "baseline": _span(baseline, n_base),
        "observed": {"window": window, **_span(observed, n_obs)},
    }


def latency_rise_at_most(
    max_rise_ms: float | None = None,
    max_factor: float | None = None,
    percentile: float = 99.0,
    window: str = "fault",
    tenants: list[str] | None = None,
    baseline_s: float | None = None,
    fault_kind: str | None = None,
    min_requests: int = 50,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the ``percentile`` (99) latency of good answers over ``window`` rose at most
    ``max_rise_ms`` above its baseline, and/or to at most ``max_factor`` times it.

    The baseline is the same load before the run's first fault. Give either bound or both
    (each given must hold); a factor is strict when the baseline is a few milliseconds, so
    prefer ``max_rise_ms`` there. Both sides need at least ``min_requests`` good answers.
    Before the method it passes as skipped. Returns ``{ok, baseline_ms, observed_ms,
    rise_ms, factor, ...}``; judge it with ``tolerance: {type: jsonpath, path: "$.ok", expect: true}``."""
    if evidence.before_method():
        return {"ok": True, "skipped": SKIPPED}
    if max_rise_ms is None and max_factor is None:
        raise ActivityFailed("latency_rise_at_most needs max_rise_ms, max_factor or both")
    baseline, observed = _compared(window, tenants, baseline_s, fault_kind)
    _enough("baseline", baseline.good, min_requests, window)
    _enough(f"window {window!r}", observed.good, min_requests, window)
    base_s = baseline.percentile(percentile, good_only=True)
    obs_s = observed.percentile(percentile, good_only=True)
    assert base_s is not None and obs_s is not None  # both have good answers
    try:
        rise = slo_math.latency_rise(base_s * 1000, obs_s * 1000, max_rise_ms, max_factor)
    except ValueError as e:
        raise ActivityFailed(f"latency_rise_at_most: {e}") from e
    broken = rise.violations()
    if broken:
        raise ActivityFailed(
            f"p{percentile:g} latency of tenants {tenants or 'all'} over window {window!r} is "
            f"{rise.observed_ms:.1f} ms against a baseline of {rise.baseline_ms:.1f} ms before the first "
            f"fault: it {' and '.join(broken)}"
        )
    return {
        "ok": True,
        "percentile": percentile,
        "baseline_ms": rise.baseline_ms,
        "observed_ms": rise.observed_ms,
        "rise_ms": rise.rise_ms,
        "factor": rise.factor,
        "max_rise_ms": max_rise_ms,
        "max_factor": max_factor,
        "baseline": _span(baseline, baseline.good),
        "observed": {"window": window, **_span(observed, observed.good)},
    }
