"""Finding chaosdrill's faults on a cluster from their marks, and reverting them without a ledger.

``chaosdrill recover --kube-context X`` runs this after the ledger sweep: for every fault
kind that marks objects (see :mod:`chaosdrill.drivers.kube.marks`), it lists the objects
carrying that kind's mark label, groups them by fault id, has the kind rebuild the undo
state the ledger would have held, and hands it to the kind's own ``undo``. The cluster is
the record here, so this works from any machine with the kubeconfig, after the drill host
is gone; ``expired_only`` keeps to faults whose TTL has run out (a scheduled sweep).
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaosdrill.drivers.kube.client import KubeTarget
from chaosdrill.drivers.kube.marks import MarkedObject, MarkError, mark_key, read_mark
from chaosdrill.drivers.target import Target
from chaosdrill.errors import PermanentError, TemporaryError
from chaosdrill.faults import registry
from chaosdrill.faults.drivers import Drivers
from chaosdrill.faults.kind import FaultKind

__all__ = ["ClusterFault", "SweepReport", "find", "sweep", "undo_state"]

# The cluster-wide list call for each object kind a fault may mark.
_LISTERS: dict[str, Callable[[KubeTarget], Callable[..., Any]]] = {
    "Node": lambda t: t.core.list_node,
    "NetworkPolicy": lambda t: t.networking.list_network_policy_for_all_namespaces,
    "Deployment": lambda t: t.apps.list_deployment_for_all_namespaces,
    "ConfigMap": lambda t: t.core.list_config_map_for_all_namespaces,
    "Pod": lambda t: t.core.list_pod_for_all_namespaces,
}


@dataclass(frozen=True)
class ClusterFault:
    """Every object one fault marked, grouped by the fault's id."""

    kind: str  # the mark's kind (``cpu_surge`` for the Kubernetes surge)
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


def _marking_kinds() -> dict[str, FaultKind]:
    return {k.mark_kind: k for k in registry.all_kinds() if k.marks and Target.KUBERNETES in k.targets}


def _marked(target: KubeTarget, mark_kind: str, object_kind: str) -> list[Any]:
    what = f"list {object_kind}s marked {mark_key(mark_kind)}"
    try:
        response = _LISTERS[object_kind](target)(label_selector=mark_key(mark_kind), _preload_content=False)
    except OSError as e:
        raise TemporaryError(f"{what}: cannot reach the API server: {e}") from e
    except Exception as e:  # ApiException, kept apart from the client's types here
        raise PermanentError(f"{what}: {e}") from e
    items: list[Any] = json.loads(response.data).get("items") or []
    return items


def find(target: KubeTarget) -> tuple[list[ClusterFault], list[str]]:
    """Every marked fault on the cluster, and a line for each mark that could not be read."""
    groups: dict[tuple[str, str], list[MarkedObject]] = {}
    unreadable: list[str] = []
    for mark_kind, kind in _marking_kinds().items():
        for object_kind in kind.marks:
            for item in _marked(target, mark_kind, object_kind):
                meta = item.get("metadata") or {}
                ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
                try:
                    mark = read_mark(mark_kind, meta)
                except MarkError as e:
                    unreadable.append(f"{object_kind} {ns}{meta.get('name')}: {e}")
                    continue
                if mark is None:
                    continue
                obj = MarkedObject(object_kind, str(meta.get("namespace") or ""), str(meta["name"]), mark)
                groups.setdefault((mark_kind, mark.fault_id), []).append(obj)
    faults = [ClusterFault(kind, fid, tuple(objs)) for (kind, fid), objs in groups.items()]
    faults.sort(key=lambda f: (f.kind, f.fault_id))
    return faults, unreadable


def undo_state(fault: ClusterFault) -> dict[str, Any]:
    """The undo state the ledger would hold for this fault, rebuilt from its marks."""
    kind = _marking_kinds().get(fault.kind)
    if kind is None:
        raise MarkError(f"unknown fault kind {fault.kind!r}")
    return kind.undo_from_marks(fault.objects)


def sweep(
    target: KubeTarget,
    *,
    now: float,
    expired_only: bool = False,
    dry_run: bool = False,
    on_reverted: Callable[[ClusterFault], None] | None = None,
    drivers: Any = None,
) -> SweepReport:
    """Revert every marked fault on the cluster (only the expired ones if ``expired_only``).

    Keeps going past a fault that fails to revert; the report says which did.
    """
    faults, unreadable = find(target)
    chosen: Sequence[ClusterFault] = [f for f in faults if f.expired(now)] if expired_only else faults
    report = SweepReport(found=list(chosen), unreadable=unreadable)
    if dry_run:
        return report
    kinds = _marking_kinds()
    for fault in chosen:
        try:
            state = {**target.where(), **undo_state(fault)}
            kinds[fault.kind].undo(drivers if drivers is not None else Drivers(), state)
        except Exception as e:  # one stuck fault must not strand the others
            report.failed.append((fault, f"{type(e).__name__}: {e}"))
            continue
        report.reverted.append(fault)
        if on_reverted is not None:
            on_reverted(fault)
    return report
