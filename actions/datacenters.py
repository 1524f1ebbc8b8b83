"""Data center faults: lose a whole DC and fail its users over to the survivors.

Users belong to cells (``hash(user_id) % N``) and each cell to a DC. On Kubernetes a DC
is the set of Deployments labelled ``chaosdrill.io/datacenter``; failing it over scales
them to zero and moves its cells in the routing ConfigMap. The rollback restores the
exact replica counts and cell map recorded in the ledger before the fault. On the sandbox
the whole DC goes (gateway, replicas, Redis, session-state members, links): the edge moves
its cells to the survivors, the replica of its session state is promoted, and the rollback
fails back without losing an acknowledged write.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["dc_failover", "dc_failover_rollback"]


def dc_failover(
    dc: str,
    namespace: str = "default",
    routing_configmap: str = "llm-routing",
    wait_gone_s: float = 120.0,
    ttl_s: float | None = None,
    promote: bool = True,
    failback_after_s: float = 5.0,
    max_lag_bytes: int | None = None,
    sync_timeout_s: float = 30.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Fail data center ``dc`` over: scale its Deployments to 0 and move its cells.

    ``routing_configmap`` maps cells to DCs (empty string: do not shift traffic). Waits up
    to ``wait_gone_s`` seconds for the DC's pods to go; returns the previous replica
    counts and the new cell map. ``ttl_s`` bounds the outage's life: the TTL watchdog
    reverts it, and on Kubernetes the Deployments' fault marks carry the expiry for
    ``chaosdrill recover --kube-context X --expired-only``.

    On the sandbox the whole DC is lost: its gateway, replicas, Redis and session-state
    members are SIGKILLed and its links cut; the edge moves its cells to the survivors and,
    with ``promote`` (the default), the replica of its session state in the next DC is
    promoted. Refused, with nothing injected, for a DC not in the topology, while another DC
    is out, or when that replica is not in sync (link down, or more than ``max_lag_bytes``
    behind when given). Returns the killed pids, the cut links, the replication lag at the
    outage and the promotion. The rollback keeps the cells away until the DC has been healthy
    and in sync for ``failback_after_s`` seconds (giving up after ``sync_timeout_s`` more),
    then restores the original primaries with no acknowledged write lost, then fails back.
    """
    args = {
        "dc": dc,
        "namespace": namespace,
        "routing_configmap": routing_configmap,
        "wait_gone_s": wait_gone_s,
        "ttl_s": ttl_s,
        "promote": promote,
        "failback_after_s": failback_after_s,
        "max_lag_bytes": max_lag_bytes,
        "sync_timeout_s": sync_timeout_s,
    }
    return faults.inject("dc_failover", configuration, args)


def dc_failover_rollback(
    dc: str,
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Fail data center ``dc`` back: its exact previous replica counts and cells (on the
    sandbox: bring the DC back, resync, restore its state's primary, then its cells)."""
    return faults.remove("dc_failover", configuration, {"dc": dc, "namespace": namespace})
