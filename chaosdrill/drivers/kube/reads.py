"""Typed reads of a cluster for probes: Deployments, pod placement, cordoned nodes, HPAs, PDBs.

Each read connects through the same checked client the faults use, so a probe obeys the
same context and namespace rules as an action.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from chaosdrill.drivers.kube.client import DC_LABEL, ZONE_LABEL, call, connect, list_pods, zone_node_names

__all__ = [
    "DC_LABEL",
    "DeploymentState",
    "HpaState",
    "PdbState",
    "PodPlacement",
    "PodReadiness",
    "as_json",
    "cordoned_nodes",
    "deployments",
    "hpas",
    "pdbs",
    "pod_placements",
    "pod_readiness",
    "zone_nodes",
]


@dataclass(frozen=True)
class DeploymentState:
    name: str
    replicas: int
    ready: int
    available: int
    labels: dict[str, str]


@dataclass(frozen=True)
class PodPlacement:
    name: str
    node: str | None
    zone: str | None
    ready: bool


@dataclass(frozen=True)
class HpaState:
    name: str
    current: int
    desired: int
    min_replicas: int
    max_replicas: int
    cpu_utilization: int | None


@dataclass(frozen=True)
class PdbState:
    name: str
    current_healthy: int
    desired_healthy: int
    disruptions_allowed: int
    expected_pods: int


def deployments(namespace: str, selector: str, configuration: Mapping[str, Any]) -> list[DeploymentState]:
    target = connect(configuration)
    target.check_namespace(namespace)
    found = call(
        "list deployments", lambda: target.apps.list_namespaced_deployment(namespace, label_selector=selector)
    ).items
    return [
        DeploymentState(
            name=d.metadata.name,
            replicas=int(d.spec.replicas or 0),
            ready=int(d.status.ready_replicas or 0),
            available=int(d.status.available_replicas or 0),
            labels=dict(d.metadata.labels or {}),
        )
        for d in found
    ]


def pod_placements(namespace: str, selector: str, configuration: Mapping[str, Any]) -> list[PodPlacement]:
    """Where each live pod runs, with its node's zone."""
    target = connect(configuration)
    target.check_namespace(namespace)
    pods = list_pods(target, namespace, selector)
    nodes = call("list nodes", lambda: target.core.list_node()).items
    zone_of = {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL) for n in nodes}
    return [
        PodPlacement(name=p.name, node=p.node, zone=zone_of.get(p.node or ""), ready=p.ready) for p in pods
    ]


@dataclass(frozen=True)
class PodReadiness:
    """A live pod's data center and since when it has been ready (epoch seconds; None: not ready)."""

    name: str
    dc: str | None
    ready_since: float | None


def _ready_since(status: Mapping[str, Any]) -> float | None:
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            raw = c.get("lastTransitionTime")
            if not isinstance(raw, str):
                return 0.0  # ready, since an unknown time: before anything this run measures
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    return None


def pod_readiness(namespace: str, selector: str, configuration: Mapping[str, Any]) -> list[PodReadiness]:
    """Each live pod matching ``selector``: its data center label and its Ready transition time."""
    target = connect(configuration)
    target.check_namespace(namespace)
    response = call(
        f"list pods {selector!r} in {namespace}",
        lambda: target.core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False),
    )
    out = []
    for item in json.loads(response.data).get("items") or []:
        meta, status = item.get("metadata") or {}, item.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        out.append(
            PodReadiness(
                str(meta.get("name")), (meta.get("labels") or {}).get(DC_LABEL), _ready_since(status)
            )
        )
    return out


def cordoned_nodes(configuration: Mapping[str, Any]) -> list[str]:
    target = connect(configuration)
    nodes = call("list nodes", lambda: target.core.list_node()).items
    return sorted(n.metadata.name for n in nodes if n.spec.unschedulable)


def hpas(namespace: str, configuration: Mapping[str, Any]) -> list[HpaState]:
    target = connect(configuration)
    target.check_namespace(namespace)
    found = call(
        "list HPAs", lambda: target.autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace)
    ).items
    out = []
    for h in found:
        cpu = None
        for metric in h.status.current_metrics or []:
            if metric.type == "Resource" and metric.resource and metric.resource.name == "cpu":
                cpu = metric.resource.current.average_utilization
        out.append(
            HpaState(
                name=h.metadata.name,
                current=int(h.status.current_replicas or 0),
                desired=int(h.status.desired_replicas or 0),
                min_replicas=int(h.spec.min_replicas or 1),
                max_replicas=int(h.spec.max_replicas),
                cpu_utilization=cpu,
            )
        )
    return out


def pdbs(namespace: str, configuration: Mapping[str, Any]) -> list[PdbState]:
    target = connect(configuration)
    target.check_namespace(namespace)
    found = call("list PDBs", lambda: target.policy.list_namespaced_pod_disruption_budget(namespace)).items
    return [
        PdbState(
            name=p.metadata.name,
            current_healthy=int(p.status.current_healthy or 0),
            desired_healthy=int(p.status.desired_healthy or 0),
            disruptions_allowed=int(p.status.disruptions_allowed or 0),
            expected_pods=int(p.status.expected_pods or 0),
        )
        for p in found
    ]


def as_json(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Dataclass results as JSON-able dicts, for measuring probes."""
    return [asdict(i) for i in items]


def zone_nodes(zone: str, configuration: Mapping[str, Any]) -> list[str]:
    """The names of the nodes labelled with ``zone``."""
    return zone_node_names(connect(configuration), zone)
