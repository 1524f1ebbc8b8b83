"""Zone faults: take an availability zone out, or cut it off from the others.

On Kubernetes an outage cordons the zone's nodes and taints them NoSchedule, then evicts
the pods of the experiment's namespaces through the Eviction API (PodDisruptionBudgets
respected), so they are rescheduled in the surviving zones; a partition is a NetworkPolicy. On the sandbox the zone is named
``<dc>-<az>`` (``dc1-az-a``): an outage stops every replica of that AZ pool and holds it
at zero; a partition blackholes the gateway's links to the pool in toxiproxy. Each fault
has a rollback action with the same arguments, and the ledger reverts it anyway if the
run dies.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["zone_outage", "zone_outage_rollback", "zone_partition", "zone_partition_rollback"]


def zone_outage(
    zone: str,
    wait_evicted_s: float = 120.0,
    ttl_s: float | None = None,
    namespaces: list[str] | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Take zone ``zone`` down.

    Kubernetes: cordon the zone's nodes and taint them ``chaosdrill.io/zone-outage``
    NoSchedule, then evict the pods of ``namespaces`` (default: the experiment's
    ``chaosdrill_allow_namespaces``; with neither, the outage is refused) running there
    through the Eviction API, so PodDisruptionBudgets hold. Pods of other namespaces stay.
    An eviction a budget refuses (429) is retried every second until ``wait_evicted_s``
    runs out; then the action fails (FaultNotApplied, naming the pods and the budgets'
    reasons) and the fault is undone. Returns the nodes, how many pods were evicted, how
    many 429s were answered, and how long tainting and eviction took. On the sandbox,
    stops every replica of the ``<dc>-<az>`` pool and holds it at zero. ``ttl_s`` bounds
    the outage's life: the TTL watchdog reverts it when it runs out, and on Kubernetes
    the nodes' fault marks carry the expiry for
    ``chaosdrill recover --kube-context X --expired-only``.
    """
    args: dict[str, object] = {"zone": zone, "wait_evicted_s": wait_evicted_s, "ttl_s": ttl_s}
    if namespaces is not None:
        args["namespaces"] = namespaces
    return faults.inject("zone_outage", configuration, args)


def zone_outage_rollback(
    zone: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Bring zone ``zone`` back: remove the outage taint and give each node back its
    schedulability from before (evicted pods are the ReplicaSets' to replace)."""
    return faults.remove("zone_outage", configuration, {"zone": zone})


def zone_partition(
    zone: str,
    namespace: str = "default",
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Cut zone ``zone`` off: a NetworkPolicy admits only traffic among the zone's own pods.

    On the sandbox: blackhole every link from the DC's gateway to the zone's replica pool.
    ``ttl_s`` bounds the partition's life (see ``zone_outage``).
    """
    args = {"zone": zone, "namespace": namespace, "ttl_s": ttl_s}
    return faults.inject("zone_partition", configuration, args)


def zone_partition_rollback(
    zone: str,
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Heal the partition of ``zone``: delete its NetworkPolicy and pod labels (on the
    sandbox: remove the blackhole)."""
    return faults.remove("zone_partition", configuration, {"zone": zone, "namespace": namespace})
