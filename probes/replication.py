"""Session-state replication probes: each DC's state has a Redis primary and an asynchronous
replica in the next DC; these read the sandbox supervisor's account of them (roles, link,
offsets, lag in bytes and in seconds of heartbeat)."""

import fnmatch
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components

__all__ = ["primaries_at_home", "replication_in_sync"]


def _stores(dc: str) -> dict[str, Any]:
    stores = components.replication()
    chosen = {owner: s for owner, s in stores.items() if fnmatch.fnmatchcase(owner, dc)}
    if not chosen:
        raise ActivityFailed(f"no session store matches {dc!r}; the sandbox has {sorted(stores)}")
    return chosen


def _summary(store: dict[str, Any]) -> dict[str, Any]:
    return {k: store.get(k) for k in ("primary", "replica", "in_sync", "lag_bytes", "lag_s")}


def replication_in_sync(
    dc: str = "*",
    max_lag_bytes: int | None = None,
    max_lag_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the replica of each selected DC's session state (``dc`` is a glob) has its
    link to the primary up and is not in a full sync, and, when given, is at most
    ``max_lag_bytes`` of replication stream and ``max_lag_s`` seconds behind."""
    verdicts = {}
    for owner, store in sorted(_stores(dc).items()):
        summary = _summary(store)
        if not store.get("in_sync"):
            raise ActivityFailed(f"the replica of {owner}'s session state is not in sync: {store}")
        lag_b, lag_s = store.get("lag_bytes"), store.get("lag_s")
        if max_lag_bytes is not None and (lag_b is None or lag_b > max_lag_bytes):
            raise ActivityFailed(
                f"{owner}'s replica is {lag_b} bytes behind, over {max_lag_bytes}: {summary}"
            )
        if max_lag_s is not None and (lag_s is None or lag_s > max_lag_s):
            raise ActivityFailed(f"{owner}'s replica is {lag_s}s behind, over {max_lag_s:g}s: {summary}")
        verdicts[owner] = summary
    return {"ok": True, "stores": verdicts}


def primaries_at_home(
    dc: str = "*",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert each selected DC's session state has its primary at home again (after a
    failover's rollback: the original primaries were restored)."""
    stores = _stores(dc)
    away = {owner: s.get("primary") for owner, s in stores.items() if s.get("primary") != owner}
    if away:
        raise ActivityFailed(f"session states with their primary away from home: {away}")
    return {"ok": True, "primaries": {owner: s.get("primary") for owner, s in sorted(stores.items())}}
