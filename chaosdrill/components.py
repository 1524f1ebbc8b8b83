"""Reading the sandbox components' own accounts for probes: breaker transitions from a
gateway, scaling and restart events from the supervisor."""

from typing import Any

from chaosdrill.drivers.sandbox import admin_get, gateway_url
from chaosdrill.errors import ActivityFailed
from chaosdrill.sandbox.lifecycle import edge_url, require_state

__all__ = [
    "breaker_transitions",
    "count_in_spans",
    "degraded_served",
    "edge_state",
    "gateway_state",
    "open_spans",
    "replication",
    "supervisor_state",
]


def gateway_state(dc: str) -> dict[str, Any]:
    return admin_get(gateway_url(require_state(), dc), "/admin/state")


def breaker_transitions(dc: str, pool: str) -> list[tuple[float, str]]:
    """(time, state) transitions of a gateway breaker; pool is an AZ name or ``redis``."""
    gw = gateway_state(dc)
    if pool == "redis":
        raw = gw["redis_breaker"]["transitions"]
    elif pool in gw["breakers"]:
        raw = gw["breakers"][pool]["transitions"]
    else:
        raise ActivityFailed(
            f"gateway {dc} has no breaker {pool!r}; it has {sorted(gw['breakers'])} and redis"
        )
    return [(float(t["at"]), str(t["state"])) for t in raw]


def supervisor_state() -> dict[str, Any]:
    return admin_get(require_state()["supervisor"]["api"], "/state")


def edge_state() -> dict[str, Any]:
    """The edge's per-DC health and its cell moves."""
    return admin_get(edge_url(require_state()), "/admin/state")


def open_spans(transitions: list[tuple[float, str]]) -> list[tuple[float, float | None]]:
    """The (from, to) spans a breaker was not closed; ``to`` is None while it still is not."""
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
    return spans


def count_in_spans(per_second: list[list[int]], spans: list[tuple[float, float | None]]) -> int:
    """The counts of ``[[second, n], ...]`` whose second overlaps a span. A second is counted
    whole when any of it lies in the span: the account is kept per second."""
    total = 0
    for second, n in per_second:
        if any(second + 1 > a and (b is None or second < b) for a, b in spans):
            total += n
    return total


def degraded_served(dc: str, spans: list[tuple[float, float | None]]) -> int:
    """Degraded answers users got from ``dc`` during ``spans``, by the edge's own account
    (the edge stamps each answer with the DC that served it)."""
    edge = edge_state()
    if dc not in edge:
        raise ActivityFailed(f"the edge knows no data center {dc!r}; it has {sorted(edge)}")
    return count_in_spans(list(edge[dc].get("degraded") or []), spans)


def replication() -> dict[str, Any]:
    """Each DC's session store as the supervisor sees it: primary, members, link, lag."""
    return admin_get(require_state()["supervisor"]["api"], "/sessions")
