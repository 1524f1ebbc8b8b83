"""Session-state replication operations, as a runbook's on-call would do them.

Each DC's session state has a Redis primary at home and an asynchronous replica in the next
DC (see docs/dc-loss.md). Promoting the replica is recorded in the ledger like a fault, so the
rollback (and any sweep) puts the primary back where it was once that member runs again.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["promote_replica", "promote_replica_rollback"]


def promote_replica(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Promote the replica of data center ``dc``'s session state and point the gateways at it.

    With the primary alive this is a planned switchover (writes paused until the replica has
    every acknowledged write); with the primary lost, whatever the replica lacked is lost.
    Returns the promotion and the replication state after it. Sandbox only.
    """
    return faults.inject("replica_promotion", configuration, {"dc": dc})


def promote_replica_rollback(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Put the primary of ``dc``'s session state back where it was before the promotion
    (once that member runs; while its DC is out, the outage's rollback does it)."""
    return faults.remove("replica_promotion", configuration, {"dc": dc})
