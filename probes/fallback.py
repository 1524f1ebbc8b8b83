"""Fallback probes: degraded answers were served while a breaker was open, every one of
them well formed; and a DC that lost its Redis took the degraded (cache-bypass) path.

Judged by PromQL where the system file declares ``fallback_served`` and ``cache_bypassed``
(the sandbox's does); otherwise from the sandbox gateway's breaker log. Degraded answers
are counted from the load's own measurements either way: they are what users saw."""

import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence, telemetry
from chaosdrill.load.measurements import aggregate, read_windows

__all__ = ["cache_bypassed", "fallback_served_while_open"]


def fallback_served_while_open(
    dc: str,
    pool: str,
    min_degraded: int = 1,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert at least ``min_degraded`` degraded answers came back while the ``dc``/``pool``
    breaker was open or half-open, and that no degraded answer in the run was malformed."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    served = telemetry.mechanism("fallback_served", configuration, dc=dc)
    opened = telemetry.mechanism("breaker_open", configuration, dc=dc, pool=pool)
    if served is not None and opened is not None:
        return _fallback_by_metrics(dc, pool, served, opened, min_degraded, configuration, secrets)
    transitions = components.breaker_transitions(dc, pool)
    spans: list[tuple[float, float | None]] = []
    start: float | None = None
    for at, state in transitions:
        if state != "closed" and start is None:
            start = at
        elif state == "closed" and start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, None))
    if not spans:
        raise ActivityFailed(f"breaker {dc}/{pool} never opened, so no fallback could be judged")
    windows = read_windows(evidence.measurements_file())
    degraded = sum(aggregate(windows, since=a, until=b).degraded for a, b in spans)
    malformed = aggregate(windows).degraded_malformed
    if malformed:
        raise ActivityFailed(f"{malformed} degraded answers were malformed (header and body disagree)")
    if degraded < min_degraded:
        raise ActivityFailed(
            f"{degraded} degraded answers while breaker {dc}/{pool} was open, expected >= {min_degraded}"
        )
    return {"ok": True, "breaker": f"{dc}/{pool}", "open_spans": len(spans), "degraded_while_open": degraded}


def _fallback_by_metrics(
    dc: str,
    pool: str,
    served: str,
    opened: str,
    min_degraded: int,
    configuration: Configuration | None,
    secrets: Secrets | None,
) -> dict:
    """The fault window: the breaker opened in it, the gateway served fallbacks in it, and the
    users got at least ``min_degraded`` well-formed degraded answers in it."""
    anchor = evidence.fault_anchor(None)
    end = anchor.reverted_at if anchor.reverted_at is not None else time.time()
    window = max(end - anchor.injected_at, 0.5)
    if telemetry.time_until(opened, anchor.injected_at, window, configuration, secrets) is None:
        raise ActivityFailed(
            f"breaker {dc}/{pool} never opened during the fault, so no fallback could be judged"
        )
    served_after = telemetry.time_until(served, anchor.injected_at, window, configuration, secrets)
    if served_after is None:
        raise ActivityFailed(f"the {dc} gateway served no fallback during the fault: {served!r} stayed false")
    windows = read_windows(evidence.measurements_file())
    malformed = aggregate(windows).degraded_malformed
    if malformed:
        raise ActivityFailed(f"{malformed} degraded answers were malformed (header and body disagree)")
    degraded = aggregate(windows, since=anchor.injected_at, until=anchor.reverted_at).degraded
    if degraded < min_degraded:
        raise ActivityFailed(f"{degraded} degraded answers during the fault, expected >= {min_degraded}")
    return {
        "ok": True,
        "breaker": f"{dc}/{pool}",
        "fallback_after_s": served_after,
        "degraded_during_fault": degraded,
        "judged_by": served,
    }


def cache_bypassed(
    dc: str,
    within_s: float = 5.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the ``dc`` gateway stopped calling its unreachable Redis (its Redis breaker
    opened) within ``within_s`` of the latest fault."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(None)
    query = telemetry.mechanism("cache_bypassed", configuration, dc=dc)
    if query is not None:
        took = telemetry.time_until(query, anchor.injected_at, within_s, configuration, secrets)
        if took is None:
            raise ActivityFailed(f"the {dc} gateway did not bypass its cache within {within_s:g}s: {query!r}")
        return {"ok": True, "dc": dc, "bypass_after_s": took, "judged_by": query}
    opened = [
        t for t, s in components.breaker_transitions(dc, "redis") if s == "open" and t >= anchor.injected_at
    ]
    if not opened or opened[0] - anchor.injected_at > within_s:
        seen = "never" if not opened else f"after {opened[0] - anchor.injected_at:.2f}s"
        raise ActivityFailed(f"the {dc} gateway's Redis breaker opened {seen}; expected within {within_s:g}s")
    return {"ok": True, "dc": dc, "bypass_after_s": opened[0] - anchor.injected_at}
