"""Data center faults: lose a whole DC and fail its users over to the survivors.

Users belong to cells (``hash(user_id) % N``) and each cell to a DC. On Kubernetes a DC
is the set of Deployments labelled ``chaosdrill.io/datacenter``; failing it over scales
them to zero and moves its cells in the routing ConfigMap. The rollback restores the
exact replica counts and cell map recorded in the ledger before the fault.
"""

from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill.targets import Target, target_of
from chaosdrill.targets import kubernetes as kube

__all__ = ["dc_failover", "dc_failover_rollback"]

SANDBOX_UNSUPPORTED = "not supported on the sandbox target yet"


def _kubernetes_only(name: str, configuration: Configuration | None) -> dict[str, Any]:
    if target_of(configuration) is not Target.KUBERNETES:
        raise ActivityFailed(f"{name}: {SANDBOX_UNSUPPORTED}")
    return dict(configuration or {})


def dc_failover(
    dc: str,
    namespace: str = "default",
    routing_configmap: str = "llm-routing",
    wait_gone_s: float = 120.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Fail data center ``dc`` over: scale its Deployments to 0 and move its cells.

    ``routing_configmap`` maps cells to DCs (empty string: do not shift traffic). Waits up
    to ``wait_gone_s`` seconds for the DC's pods to go; returns the previous replica
    counts and the new cell map.
    """
    conf = _kubernetes_only("dc_failover", configuration)
    return kube.dc_failover(dc, namespace, routing_configmap or None, wait_gone_s, conf)


def dc_failover_rollback(
    dc: str,
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, Any]:
    """Fail data center ``dc`` back: its exact previous replica counts and cells."""
    conf = _kubernetes_only("dc_failover_rollback", configuration)
    return kube.dc_failover_rollback(dc, namespace, conf)
