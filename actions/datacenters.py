"""Data center faults: lose a whole DC and fail its users over to the survivors.

Users belong to cells (``hash(user_id) % N``) and each cell to a DC. On Kubernetes a DC
is the set of Deployments labelled ``chaosdrill.io/datacenter``; failing it over scales
them to zero and moves its cells in the routing ConfigMap. The rollback restores the
exact replica counts and cell map recorded in the ledger before the fault. On the sandbox
the DC's gateway is stopped: the edge must notice and move the DC's cells to the
survivors, and fail them back once the gateway is healthy again.
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
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Fail data center ``dc`` over: scale its Deployments to 0 and move its cells.

    ``routing_configmap`` maps cells to DCs (empty string: do not shift traffic). Waits up
    to ``wait_gone_s`` seconds for the DC's pods to go; returns the previous replica
    counts and the new cell map. On the sandbox: stop the DC's gateway and let the edge
    fail its cells over. ``ttl_s`` bounds the outage's life: the TTL watchdog reverts it,
    and on Kubernetes the Deployments' fault marks carry the expiry for
    ``chaosdrill recover --kube-context X --expired-only``.
    """
    args = {
        "dc": dc,
        "namespace": namespace,
        "routing_configmap": routing_configmap,
        "wait_gone_s": wait_gone_s,
        "ttl_s": ttl_s,
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
    sandbox: start its gateway again)."""
    return faults.remove("dc_failover", configuration, {"dc": dc, "namespace": namespace})
