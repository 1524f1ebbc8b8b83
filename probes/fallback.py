"""Fallback probes: degraded answers were served while a breaker was open, every one of
them well formed; and a DC that lost its Redis took the degraded (cache-bypass) path."""

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence
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
    opened = [
        t for t, s in components.breaker_transitions(dc, "redis") if s == "open" and t >= anchor.injected_at
    ]
    if not opened or opened[0] - anchor.injected_at > within_s:
        seen = "never" if not opened else f"after {opened[0] - anchor.injected_at:.2f}s"
        raise ActivityFailed(f"the {dc} gateway's Redis breaker opened {seen}; expected within {within_s:g}s")
    return {"ok": True, "dc": dc, "bypass_after_s": opened[0] - anchor.injected_at}
