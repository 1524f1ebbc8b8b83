"""Fallback probes: the named DC served degraded answers while its breaker was open, every
degraded answer well formed; and a DC that lost its Redis took the degraded (cache-bypass) path.

Judged by PromQL where the system file declares ``fallback_served`` and ``cache_bypassed``
(the sandbox's does); otherwise from the sandbox gateway's breaker log. The degraded answers
counted are the named DC's only: by the ``degraded_answers`` counter where the system file
declares it (the sandbox's edge counts them by serving DC), by the sandbox edge's own
per-second account otherwise. Malformed degraded answers are found in the load's own
measurements: they are what users saw."""

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
    """Assert at least ``min_degraded`` degraded answers *from* ``dc`` came back while its
    ``pool`` breaker was open or half-open, and that no degraded answer in the run was
    malformed. Other DCs' degraded answers do not count: each DC's fallback is its own."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    served = telemetry.mechanism("fallback_served", configuration, dc=dc)
    opened = telemetry.mechanism("breaker_open", configuration, dc=dc, pool=pool)
    if served is not None and opened is not None:
        return _fallback_by_metrics(dc, pool, served, opened, min_degraded, configuration, secrets)
    spans = components.open_spans(components.breaker_transitions(dc, pool))
    if not spans:
        raise ActivityFailed(f"breaker {dc}/{pool} never opened, so no fallback could be judged")
    _no_malformed()
    degraded = components.degraded_served(dc, spans)
    if degraded < min_degraded:
        raise ActivityFailed(
            f"{degraded} degraded answers from {dc} while breaker {dc}/{pool} was open, expected >= {min_degraded}"
        )
    anchor = evidence.fault_anchor(None)
    return {
        "ok": True,
        "mechanism": "fallback",
        "breaker": f"{dc}/{pool}",
        "dc": dc,
        "open_spans": len(spans),
        "opened_after_s": max(0.0, spans[0][0] - anchor.injected_at),
        "degraded_while_open": degraded,
    }


def _no_malformed() -> None:
    windows = read_windows(evidence.measurements_file())
    malformed = aggregate(windows).degraded_malformed
    if malformed:
        raise ActivityFailed(f"{malformed} degraded answers were malformed (header and body disagree)")


def _fallback_by_metrics(
    dc: str,
    pool: str,
    served: str,
    opened: str,
    min_degraded: int,
    configuration: Configuration | None,
    secrets: Secrets | None,
) -> dict:
    """The fault window: the breaker opened in it, the DC's gateway served fallbacks in it, and
    users got at least ``min_degraded`` well-formed degraded answers from the DC in it."""
    anchor = evidence.fault_anchor(None)
    end = anchor.reverted_at if anchor.reverted_at is not None else time.time()
    window = max(end - anchor.injected_at, 0.5)
    opened_after = telemetry.time_until(opened, anchor.injected_at, window, configuration, secrets)
    if opened_after is None:
        raise ActivityFailed(
            f"breaker {dc}/{pool} never opened during the fault, so no fallback could be judged"
        )
    served_after = telemetry.time_until(served, anchor.injected_at, window, configuration, secrets)
    if served_after is None:
        raise ActivityFailed(f"the {dc} gateway served no fallback during the fault: {served!r} stayed false")
    _no_malformed()
    counter = telemetry.optional_mechanism("degraded_answers", configuration, dc=dc)
    if counter is not None:
        degraded = round(telemetry.count_between(counter, anchor.injected_at, end, configuration, secrets))
        scope = dc
    else:
        # Without a per-DC count the users' own tally is all there is; the result says so.
        windows = read_windows(evidence.measurements_file())
        degraded = aggregate(windows, since=anchor.injected_at, until=anchor.reverted_at).degraded
        scope = "all DCs (the system file declares no degraded_answers mechanism)"
    if degraded < min_degraded:
        raise ActivityFailed(
            f"{degraded} degraded answers from {scope} during the fault, expected >= {min_degraded}"
        )
    return {
        "ok": True,
        "mechanism": "fallback",
        "breaker": f"{dc}/{pool}",
        "dc": dc,
        "opened_after_s": opened_after,
        "fallback_after_s": served_after,
        "degraded_during_fault": degraded,
        "degraded_counted_from": scope,
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
        return {"ok": True, "mechanism": "fallback", "dc": dc, "bypass_after_s": took, "judged_by": query}
    opened = [
        t for t, s in components.breaker_transitions(dc, "redis") if s == "open" and t >= anchor.injected_at
    ]
    if not opened or opened[0] - anchor.injected_at > within_s:
        seen = "never" if not opened else f"after {opened[0] - anchor.injected_at:.2f}s"
        raise ActivityFailed(f"the {dc} gateway's Redis breaker opened {seen}; expected within {within_s:g}s")
    return {"ok": True, "mechanism": "fallback", "dc": dc, "bypass_after_s": opened[0] - anchor.injected_at}
