"""Zone faults: take an availability zone out, or cut it off from the others.

On Kubernetes an outage is what a real zone loss looks like to the control plane: its
nodes are cordoned and tainted NoExecute, so their pods are evicted and rescheduled in
the surviving zones; a partition is a NetworkPolicy. On the sandbox the zone is named
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
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Take zone ``zone`` down: cordon its nodes and taint them NoExecute.

    Waits up to ``wait_evicted_s`` seconds for the zone's pods to be evicted and fails
    (FaultNotApplied, after undoing the fault) if they are not. Returns the nodes and
    how long tainting and eviction took. On the sandbox, stops every replica of the
    ``<dc>-<az>`` pool and holds it at zero. ``ttl_s`` bounds the outage's life: the
    TTL watchdog reverts it when it runs out, and on Kubernetes the nodes' fault marks
    carry the expiry for ``chaosdrill recover --kube-context X --expired-only``.
    """
    args = {"zone": zone, "wait_evicted_s": wait_evicted_s, "ttl_s": ttl_s}
    return faults.inject("zone_outage", configuration, args)


def zone_outage_rollback(
    zone: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Bring zone ``zone`` back: remove the outage taint and uncordon its nodes."""
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
