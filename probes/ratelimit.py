"""Rate-limit probes: the over-limit tenant is told 429 with Retry-After, and never 5xx.

What the tenant was told comes from the load's own measurements; that the limiter itself
acted is judged by PromQL where the system file declares ``rate_limited`` (the sandbox's does)."""

import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence, telemetry
from chaosdrill.load.measurements import read_windows, select

__all__ = ["tenant_rate_limited"]


def tenant_rate_limited(
    tenant: str,
    min_rejected: int = 1,
    max_error_ratio: float = 0.0,
    window: str = "fault",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert ``tenant`` got at least ``min_rejected`` 429s, each with Retry-After, and
    that its 5xx/reset/timeout share stayed within ``max_error_ratio`` (default: none)."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    s = evidence.summary(window, [tenant])
    if s.rejected < min_rejected:
        raise ActivityFailed(
            f"tenant {tenant} got {s.rejected} 429s in window {window!r}, expected >= {min_rejected}"
        )
    if s.rejected_without_retry_after:
        raise ActivityFailed(f"{s.rejected_without_retry_after} of tenant {tenant}'s 429s lacked Retry-After")
    ratio = s.error / s.completed if s.completed else 0.0
    if ratio > max_error_ratio:
        raise ActivityFailed(
            f"tenant {tenant} saw {s.error} errors ({ratio:.2%}, reasons {s.errors}) in window {window!r}; "
            f"the limiter must answer 429, allowed error ratio {max_error_ratio:.2%}"
        )
    start, end = evidence.window_bounds(window)
    begin = start if start is not None else evidence.run_started()
    result: dict = {
        "ok": True,
        "mechanism": "rate_limit",
        "tenant": tenant,
        "rejected": s.rejected,
        "errors": s.error,
        "completed": s.completed,
        "first_429_after_s": _first_rejected_after(tenant, begin, end),
    }
    query = telemetry.mechanism("rate_limited", configuration, tenant=tenant)
    if query is not None:
        until = end if end is not None else time.time()
        took = telemetry.time_until(query, begin, max(until - begin, 0.5), configuration, secrets)
        if took is None:
            raise ActivityFailed(
                f"the limiter never counted a 429 for tenant {tenant} in window {window!r}: {query!r}"
            )
        result["limited_after_s"] = took
        result["judged_by"] = query
    return result


def _first_rejected_after(tenant: str, begin: float, end: float | None) -> float | None:
    """Seconds from ``begin`` to the end of the first measurement window in which ``tenant``
    got a 429 (the window's resolution: 1 s by default)."""
    for w, streams in select(read_windows(evidence.measurements_file()), begin, end, tenants=[tenant]):
        if any(x.rejected for x in streams):
            return max(0.0, w.t1 - begin)
    return None
