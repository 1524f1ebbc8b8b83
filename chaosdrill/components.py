"""Reading the sandbox components' own accounts for probes: breaker transitions from a
gateway, scaling and restart events from the supervisor."""

from typing import Any

from chaosdrill.drivers.sandbox import admin_get, gateway_url
from chaosdrill.errors import ActivityFailed
from chaosdrill.sandbox.lifecycle import edge_url, require_state

__all__ = ["breaker_transitions", "edge_state", "gateway_state", "replication", "supervisor_state"]


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


def replication() -> dict[str, Any]:
    """Each DC's session store as the supervisor sees it: primary, members, link, lag."""
    return admin_get(require_state()["supervisor"]["api"], "/sessions")
