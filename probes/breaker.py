"""Circuit-breaker probes: the breaker of a pool opened within T of the fault, and
closed again within T of the fault's removal.

Judged by PromQL where the experiment's system file declares the ``breaker_open`` mechanism
(the sandbox's own file does), timed from the fault's ledger timestamps; otherwise from the
sandbox gateway's own transition log."""

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence, telemetry

__all__ = ["breaker_closed_within", "breaker_opened_within"]


def breaker_opened_within(
    dc: str,
    pool: str,
    within_s: float = 5.0,
    fault_kind: str | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the ``dc`` gateway's breaker for ``pool`` (an AZ, or ``redis``) opened within
    ``within_s`` seconds of the latest fault's injection."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(fault_kind)
    query = telemetry.mechanism("breaker_open", configuration, dc=dc, pool=pool)
    if query is not None:
        took = telemetry.time_until(query, anchor.injected_at, within_s, configuration, secrets)
        if took is None:
            raise ActivityFailed(
                f"breaker {dc}/{pool} did not open within {within_s:g}s of the fault ({anchor.description}): "
                f"{query!r} stayed false"
            )
        return {
            "ok": True,
            "mechanism": "breaker",
            "breaker": f"{dc}/{pool}",
            "opened_after_s": took,
            "judged_by": query,
        }
    opened = [
        t for t, s in components.breaker_transitions(dc, pool) if s == "open" and t >= anchor.injected_at
    ]
    if not opened:
        raise ActivityFailed(f"breaker {dc}/{pool} never opened after the fault ({anchor.description})")
    delay = opened[0] - anchor.injected_at
    if delay > within_s:
        raise ActivityFailed(
            f"breaker {dc}/{pool} opened {delay:.2f}s after the fault, later than {within_s:g}s"
        )
    return {"ok": True, "mechanism": "breaker", "breaker": f"{dc}/{pool}", "opened_after_s": delay}


def breaker_closed_within(
    dc: str,
    pool: str,
    within_s: float = 10.0,
    fault_kind: str | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the breaker for ``pool`` closed within ``within_s`` seconds after the latest
    fault was reverted, and is closed now."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(fault_kind)
    if anchor.reverted_at is None:
        raise ActivityFailed(f"the fault ({anchor.description}) is still active; revert it before this probe")
    query = telemetry.mechanism("breaker_open", configuration, dc=dc, pool=pool)
    if query is not None:
        took = telemetry.time_until(query, anchor.reverted_at, within_s, configuration, secrets, expect=False)
        if took is None or telemetry.is_true_now(query, configuration, secrets):
            raise ActivityFailed(
                f"breaker {dc}/{pool} has not stayed closed since the fault was reverted: {query!r} is true"
            )
        return {
            "ok": True,
            "mechanism": "breaker",
            "breaker": f"{dc}/{pool}",
            "closed_after_s": took,
            "judged_by": query,
        }
    transitions = components.breaker_transitions(dc, pool)
    closed = [t for t, s in transitions if s == "closed" and t >= anchor.reverted_at]
    current = transitions[-1][1] if transitions else "closed"
    if not closed or current != "closed":
        raise ActivityFailed(
            f"breaker {dc}/{pool} is {current} and has not closed since the fault was reverted"
        )
    delay = closed[0] - anchor.reverted_at
    if delay > within_s:
        raise ActivityFailed(
            f"breaker {dc}/{pool} closed {delay:.2f}s after recovery, later than {within_s:g}s"
        )
    return {"ok": True, "mechanism": "breaker", "breaker": f"{dc}/{pool}", "closed_after_s": delay}
