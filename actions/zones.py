"""Zone faults: take an availability zone out, or cut it off from the others.

On Kubernetes an outage is what a real zone loss looks like to the control plane: its
nodes are cordoned and tainted NoExecute, so their pods are evicted and rescheduled in
the surviving zones; a partition is a NetworkPolicy. Each fault has a rollback action
with the same arguments, and the ledger reverts it anyway if the run dies.
"""

from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill.targets import Target, target_of
from chaosdrill.targets import kubernetes as kube

__all__ = ["zone_outage", "zone_outage_rollback", "zone_partition", "zone_partition_rollback"]

SANDBOX_UNSUPPORTED = "not supported on the sandbox target yet"


def _kubernetes_only(name: str, configuration: Configuration | None) -> dict[str, Any]:
    if target_of(configuration) is not Target.KUBERNETES:
        raise ActivityFailed(f"{name}: {SANDBOX_UNSUPPORTED}")
    return dict(configuration or {})


def zone_outage(
    zone: str,
    wait_evicted_s: float = 120.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Take zone ``zone`` down: cordon its nodes and taint them NoExecute.

    Waits up to ``wait_evicted_s`` seconds for the zone's pods to be evicted and fails
    (FaultNotApplied, after undoing the fault) if they are not. Returns the nodes and
    how long tainting and eviction took.
    """
    conf = _kubernetes_only("zone_outage", configuration)
    return kube.zone_outage(zone, wait_evicted_s, conf)


def zone_outage_rollback(
    zone: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Bring zone ``zone`` back: remove the outage taint and uncordon its nodes."""
    conf = _kubernetes_only("zone_outage_rollback", configuration)
    return kube.zone_outage_rollback(zone, conf)


def zone_partition(
    zone: str,
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Cut zone ``zone`` off: a NetworkPolicy admits only traffic among the zone's own pods."""
    conf = _kubernetes_only("zone_partition", configuration)
    return kube.zone_partition(zone, namespace, conf)


def zone_partition_rollback(
    zone: str,
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Heal the partition of ``zone``: delete its NetworkPolicy and pod labels."""
    conf = _kubernetes_only("zone_partition_rollback", configuration)
    return kube.zone_partition_rollback(zone, namespace, conf)
