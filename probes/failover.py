"""DC failover probes: the dead DC's cells moved to the survivors within the RTO of the
fault, and moved back within T of its recovery.

Judged by PromQL where the system file declares ``dc_healthy`` (the sandbox's does: the edge
exports each DC's health), timed from the fault's ledger timestamps; otherwise from the
sandbox edge's own health log."""

from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence, telemetry

__all__ = ["failed_back_within", "failed_over_within"]


def _transitions(dc: str) -> list[dict[str, Any]]:
    edge = components.edge_state()
    if dc not in edge:
        raise ActivityFailed(f"the edge knows no data center {dc!r}; it has {sorted(edge)}")
    return list(edge[dc]["transitions"])


def failed_over_within(
    dc: str,
    rto_s: float = 5.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the edge declared ``dc`` down, moving its cells to the survivors, within
    ``rto_s`` seconds of the latest DC outage."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor("dc_failover")
    query = telemetry.mechanism("dc_healthy", configuration, dc=dc)
    if query is not None:
        took = telemetry.time_until(query, anchor.injected_at, rto_s, configuration, secrets, expect=False)
        if took is None:
            raise ActivityFailed(
                f"{dc} was not failed over within the RTO of {rto_s:g}s ({anchor.description}): {query!r} stayed true"
            )
        return {
            "ok": True,
            "mechanism": "failover",
            "dc": dc,
            "rto_s": took,
            "failover_s": took,
            "judged_by": query,
        }
    down = [t["at"] for t in _transitions(dc) if not t["healthy"] and t["at"] >= anchor.injected_at]
    if not down:
        raise ActivityFailed(f"the edge never failed {dc} over after the outage ({anchor.description})")
    took = down[0] - anchor.injected_at
    if took > rto_s:
        raise ActivityFailed(f"{dc} failed over after {took:.2f}s, beyond the RTO of {rto_s:g}s")
    return {"ok": True, "mechanism": "failover", "dc": dc, "rto_s": took, "failover_s": took}


def failed_back_within(
    dc: str,
    within_s: float = 10.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the edge took ``dc`` back, its cells home again, within ``within_s`` seconds
    of the outage being reverted."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor("dc_failover")
    if anchor.reverted_at is None:
        raise ActivityFailed(f"the outage ({anchor.description}) is still active")
    query = telemetry.mechanism("dc_healthy", configuration, dc=dc)
    if query is not None:
        took = telemetry.time_until(query, anchor.reverted_at, within_s, configuration, secrets)
        if took is None or not telemetry.is_true_now(query, configuration, secrets):
            raise ActivityFailed(
                f"{dc} was not taken back within {within_s:g}s of the outage ending: {query!r}"
            )
        return {"ok": True, "mechanism": "failover", "dc": dc, "failback_s": took, "judged_by": query}
    transitions = _transitions(dc)
    back = [t["at"] for t in transitions if t["healthy"] and t["at"] >= anchor.reverted_at]
    if not back or not transitions[-1]["healthy"]:
        raise ActivityFailed(f"the edge has not taken {dc} back since the outage ended")
    took = back[0] - anchor.reverted_at
    if took > within_s:
        raise ActivityFailed(f"{dc} failed back after {took:.2f}s, later than {within_s:g}s")
    return {"ok": True, "mechanism": "failover", "dc": dc, "failback_s": took}
