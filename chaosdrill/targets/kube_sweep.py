"""Finding chaosdrill's faults on a cluster from their marks, and reverting them without a ledger.

``chaosdrill recover --kube-context X`` runs this after the ledger sweep: it lists, per
fault kind, the objects carrying that kind's mark label (see
:mod:`chaosdrill.targets.kube_marks`), groups them by fault id, rebuilds the revert
arguments the ledger would have held from the undo state each object carries, and hands
them to the driver's own :func:`chaosdrill.targets.kubernetes.revert`. The cluster is the
record here, so this works from any machine with the kubeconfig, after the drill host is
gone; ``expired_only`` keeps to faults whose TTL has run out (a scheduled sweep).
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaosdrill.errors import PermanentError, TemporaryError
from chaosdrill.targets import kubernetes as kube
from chaosdrill.targets.kube_marks import Mark, MarkError, mark_key, read_mark

__all__ = ["ClusterFault", "MarkedObject", "SweepReport", "find", "revert_args", "sweep"]


@dataclass(frozen=True)
class MarkedObject:
    """One object a fault changed: what it is, where, and its mark."""

    object_kind: str  # Node, NetworkPolicy, Deployment, ConfigMap, Pod
    namespace: str
    name: str
    mark: Mark


@dataclass(frozen=True)
class ClusterFault:
    """Every object one fault marked, grouped by the fault's id."""

    kind: str
    fault_id: str
    objects: tuple[MarkedObject, ...]

    @property
    def run_id(self) -> str | None:
        return self.objects[0].mark.run_id

    @property
    def expires_at(self) -> float | None:
        ends = [o.mark.expires_at for o in self.objects if o.mark.expires_at is not None]
        return min(ends) if ends else None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o.object_kind] = counts.get(o.object_kind, 0) + 1
        where = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in sorted(counts.items()))
        names = ", ".join(sorted({o.name for o in self.objects})[:3])
        return f"{self.kind} on {where} ({names}{', ...' if len(self.objects) > 3 else ''})"


@dataclass
class SweepReport:
    found: list[ClusterFault] = field(default_factory=list)
    reverted: list[ClusterFault] = field(default_factory=list)
    failed: list[tuple[ClusterFault, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


# Which objects each fault kind marks, and the cluster-wide list call that finds them.
Lister = Callable[[kube.KubeTarget], Callable[..., Any]]
_MARKED: dict[str, tuple[tuple[str, Lister], ...]] = {
    "zone_outage": (("Node", lambda t: t.core.list_node),),
    "zone_partition": (("NetworkPolicy", lambda t: t.networking.list_network_policy_for_all_namespaces),),
    "dc_failover": (
        ("Deployment", lambda t: t.apps.list_deployment_for_all_namespaces),
        ("ConfigMap", lambda t: t.core.list_config_map_for_all_namespaces),
    ),
    "cpu_surge": (
        ("Deployment", lambda t: t.apps.list_deployment_for_all_namespaces),
        ("Pod", lambda t: t.core.list_pod_for_all_namespaces),
    ),
}


def _marked(target: kube.KubeTarget, kind: str, object_kind: str, lister: Lister) -> list[Any]:
    what = f"list {object_kind}s marked {mark_key(kind)}"
    try:
        response = lister(target)(label_selector=mark_key(kind), _preload_content=False)
    except OSError as e:
        raise TemporaryError(f"{what}: cannot reach the API server: {e}") from e
    except Exception as e:  # ApiException: only the driver imports the client's types
        raise PermanentError(f"{what}: {e}") from e
    items: list[Any] = json.loads(response.data).get("items") or []
    return items


def find(target: kube.KubeTarget) -> tuple[list[ClusterFault], list[str]]:
    """Every marked fault on the cluster, and a line for each mark that could not be read."""
    groups: dict[tuple[str, str], list[MarkedObject]] = {}
    unreadable: list[str] = []
    for kind, listers in _MARKED.items():
        for object_kind, lister in listers:
            for item in _marked(target, kind, object_kind, lister):
                meta = item.get("metadata") or {}
                where = f"{object_kind} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta.get('name')}"
                try:
                    mark = read_mark(kind, meta)
                except MarkError as e:
                    unreadable.append(f"{where}: {e}")
                    continue
                if mark is None:
                    continue
                obj = MarkedObject(object_kind, str(meta.get("namespace") or ""), str(meta["name"]), mark)
                groups.setdefault((kind, mark.fault_id), []).append(obj)
    faults = [ClusterFault(kind, fid, tuple(objs)) for (kind, fid), objs in groups.items()]
    faults.sort(key=lambda f: (f.kind, f.fault_id))
    return faults, unreadable


def _of(fault: ClusterFault, object_kind: str) -> list[MarkedObject]:
    return [o for o in fault.objects if o.object_kind == object_kind]


def revert_args(fault: ClusterFault) -> dict[str, Any]:
    """The arguments the ledger would hold for this fault, rebuilt from its marks' undo state."""
    first = fault.objects[0]
    namespace = first.namespace or str(first.mark.undo.get("namespace", ""))
    if fault.kind == "zone_outage":
        return {
            "op": fault.kind,
            "zone": first.mark.undo.get("zone"),
            "nodes": {o.name: bool(o.mark.undo.get("unschedulable", False)) for o in fault.objects},
        }
    if fault.kind == "zone_partition":
        return {"op": fault.kind, "zone": first.mark.undo["zone"], "namespace": namespace, "pods": []}
    if fault.kind == "dc_failover":
        maps = _of(fault, "ConfigMap")
        return {
            "op": fault.kind,
            "namespace": namespace,
            "replicas": {o.name: int(o.mark.undo["replicas"]) for o in _of(fault, "Deployment")},
            "routing_configmap": maps[0].name if maps else None,
            "routing": maps[0].mark.undo.get("data") if maps else None,
        }
    if fault.kind == "cpu_surge":
        deps = _of(fault, "Deployment")
        return {
            "op": fault.kind,
            "namespace": namespace,
            "templates": {o.name: o.mark.undo.get("template_usage") for o in deps},
            "pods": {o.name: o.mark.undo.get("usage") for o in _of(fault, "Pod")},
            "selector": deps[0].mark.undo.get("selector") if deps else None,
            "surged": deps[0].mark.undo.get("surged") if deps else None,
        }
    raise MarkError(f"unknown fault kind {fault.kind!r}")


def sweep(
    target: kube.KubeTarget,
    *,
    now: float,
    expired_only: bool = False,
    dry_run: bool = False,
    on_reverted: Callable[[ClusterFault], None] | None = None,
) -> SweepReport:
    """Revert every marked fault on the cluster (only the expired ones if ``expired_only``).

    Keeps going past a fault that fails to revert; the report says which did.
    """
    faults, unreadable = find(target)
    chosen: Sequence[ClusterFault] = [f for f in faults if f.expired(now)] if expired_only else faults
    report = SweepReport(found=list(chosen), unreadable=unreadable)
    if dry_run:
        return report
    for fault in chosen:
        try:
            kube.revert(target.revert_args(**revert_args(fault)))
        except Exception as e:  # one stuck fault must not strand the others
            report.failed.append((fault, f"{type(e).__name__}: {e}"))
            continue
        report.reverted.append(fault)
        if on_reverted is not None:
            on_reverted(fault)
    return report
