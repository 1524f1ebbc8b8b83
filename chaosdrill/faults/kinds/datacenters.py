"""Data center faults: lose a whole DC and fail its users over to the survivors.

Users belong to cells (``hash(user_id) % N``) and each cell to a DC. On Kubernetes a DC is
the set of Deployments labelled ``chaosdrill.io/datacenter``; failing it over scales them
to zero and moves its cells in the routing ConfigMap, and the undo restores the exact
replica counts and cell map recorded before the fault. On the sandbox the DC's gateway is
stopped: the edge must notice and move the DC's cells to the survivors, and fail them back
once the gateway is healthy again.
"""

import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

from chaosdrill.drivers.kube.client import (
    DC_LABEL,
    KubeTarget,
    KubeWhere,
    call,
    ignore_404,
    list_pods,
    metadata_of,
    parallel,
    wait_until,
)
from chaosdrill.drivers.kube.marks import Mark, MarkedObject, mark_key, strip_mark, unmark_metadata
from chaosdrill.drivers.sandbox import SandboxDriver
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults.blast import check_dcs
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["KINDS", "ScaleDcToZero", "StopGateway"]

ACTIVITIES = {
    "actions.datacenters.dc_failover": "inject",
    "actions.datacenters.dc_failover_rollback": "remove",
}


class StopGateway(FaultKind):
    """Stop a DC's gateway: its cells lose their DC and the edge must fail them over."""

    name = "dc_failover"
    targets = (Target.SANDBOX,)
    activities = ACTIVITIES

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"dc_outage:{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc = str(args["dc"])
        sandbox: SandboxDriver = env.drivers.sandbox()
        sandbox.gateway_url(dc)  # unknown or already-down DC: ActivityFailed, nothing recorded
        return Plan(
            key=self.key(env, args),
            description=f"stop the {dc} gateway (its cells must fail over)",
            undo=GatewayUndo(instance=sandbox.instance_id, api=sandbox.supervisor_api, dc=dc),
            touches=(f"data center {dc}: stop its gateway; the edge moves its cells",),
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        dc = str(plan.undo["dc"])
        sandbox.post(f"{sandbox.supervisor_api}/gateway", {"dc": dc, "running": False})
        if not wait_until(lambda: not sandbox.gateway_running(dc), 5.0, interval_s=0.05):
            raise FaultNotApplied(f"the {dc} gateway is still running")
        return {"dc": dc, "at": time.time()}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(GatewayUndo, undo)
        sandbox = drivers.sandbox_instance(state["instance"])
        if sandbox is not None:
            sandbox.post(f"{state['api']}/gateway", {"dc": state["dc"], "running": True})

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"dc": str(args["dc"])}


class GatewayUndo(TypedDict):
    """The stopped gateway's DC, and the supervisor that starts it again."""

    instance: str
    api: str
    dc: str


class FailoverUndo(KubeWhere):
    """The DC's Deployments with their replica counts, and its cell map, from before."""

    dc: str
    namespace: str
    replicas: dict[str, int]
    routing_configmap: str | None
    routing: dict[str, str] | None


def _marked(obj: Any) -> bool:
    """Whether an object carries a dc_failover mark."""
    return mark_key("dc_failover") in (obj.metadata.labels or {})


def _moved_cells(routing: Mapping[str, str], dc: str) -> dict[str, str]:
    """The cell map with ``dc``'s cells dealt round-robin to the surviving DCs."""
    survivors = sorted({v for v in routing.values() if v != dc})
    if not survivors:
        raise ActivityFailed(f"dc_failover: no surviving data center to take {dc}'s cells")
    after = dict(routing)
    for i, cell in enumerate(cell for cell, owner in sorted(routing.items()) if owner == dc):
        after[cell] = survivors[i % len(survivors)]
    return after


class ScaleDcToZero(FaultKind):
    """Scale every Deployment labelled with data center ``dc`` to 0 and move its cells.

    The routing ConfigMap maps each cell (``cell-0``...) to a data center, as the edge's
    ``hash(user_id) % N`` does; the failed DC's cells go round-robin to the survivors. Each
    Deployment and the ConfigMap carry the fault's mark with their previous replica count
    or cell map, written in the same patch as the change. A DC outside
    ``chaosdrill_allow_dcs`` is refused before the cluster is reached at all.
    """

    name = "dc_failover"
    targets = (Target.KUBERNETES,)
    activities = ACTIVITIES
    marks = ("Deployment", "ConfigMap")

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        context = env.configuration.get("kube_context", "")
        return f"dc_failover/{context}/{args.get('namespace', 'default')}/{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc, namespace = str(args["dc"]), str(args.get("namespace", "default"))
        check_dcs(env.configuration, dc, (dc,))  # before any call: a DC outside the allowlist is not read
        configmap = str(args.get("routing_configmap", "llm-routing") or "") or None
        target: KubeTarget = env.drivers.kube(env.configuration)
        target.check_namespace(namespace)
        deps = call(
            f"list deployments of {dc}",
            lambda: target.apps.list_namespaced_deployment(namespace, label_selector=f"{DC_LABEL}={dc}"),
        ).items
        if not deps:
            raise ActivityFailed(
                f"dc_failover: no Deployment labelled {DC_LABEL}={dc} in namespace {namespace!r}"
            )
        replicas = {d.metadata.name: int(d.spec.replicas or 0) for d in deps}
        marked = sorted(d.metadata.name for d in deps if _marked(d))
        if marked:
            # Their "previous" replicas would be the failover's own zeros: refuse, touch nothing.
            raise ActivityFailed(
                f"dc_failover: {dc} is failed over already (Deployments {marked} carry its mark); roll it back first"
            )
        before: dict[str, str] | None = None
        after: dict[str, str] | None = None
        if configmap:
            cm = ignore_404(lambda: target.core.read_namespaced_config_map(configmap, namespace))
            if cm is None:
                raise BadInput(
                    "<experiment>", "routing_configmap", f"ConfigMap {namespace}/{configmap} does not exist"
                )
            before = dict(cm.data or {})
            after = _moved_cells(before, dc)
        touches = [f"Deployment {namespace}/{n}: scale {r} -> 0" for n, r in sorted(replicas.items())]
        if configmap:
            touches.append(f"ConfigMap {namespace}/{configmap}: move {dc}'s cells to the survivors")
        return Plan(
            key=self.key(env, args),
            description=f"scale {len(replicas)} Deployments of {dc} to 0 and move its cells",
            undo=FailoverUndo(
                **target.where(),
                dc=dc,
                namespace=namespace,
                replicas=replicas,
                routing_configmap=configmap,
                routing=before,
            ),
            touches=tuple(touches),
            dc_selector=dc,
            dcs=(dc,),
            namespaces=(namespace,),
            work={"target": target, "after": after, "wait_s": float(args.get("wait_gone_s", 120.0))},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        target: KubeTarget = plan.work["target"]
        undo = plan.undo
        dc, namespace, configmap = str(undo["dc"]), str(undo["namespace"]), undo["routing_configmap"]
        replicas: dict[str, int] = dict(undo["replicas"])
        after, wait_s = plan.work["after"], float(plan.work["wait_s"])
        selector = f"{DC_LABEL}={dc}"
        start = time.monotonic()
        if configmap and after is not None:
            body = {"metadata": mark.with_undo(data=undo["routing"]).metadata(), "data": after}
            call("shift traffic", lambda: target.core.patch_namespaced_config_map(configmap, namespace, body))

        def scale(name: str) -> Any:
            body = {"metadata": mark.with_undo(replicas=replicas[name]).metadata(), "spec": {"replicas": 0}}
            return target.apps.patch_namespaced_deployment(name, namespace, body)

        call("scale deployments", lambda: parallel(scale, list(replicas)))
        if not wait_until(lambda: not list_pods(target, namespace, selector), wait_s):
            left = len(list_pods(target, namespace, selector))
            raise FaultNotApplied(f"dc_failover: {left} pods of {dc} still live after {wait_s}s")
        return {
            "dc": dc,
            "deployments": replicas,
            "routing": after,
            "gone_s": round(time.monotonic() - start, 3),
        }

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        target = drivers.kube_at(undo.get("kubeconfig"), str(undo["kube_context"]))
        namespace = str(undo["namespace"])
        unmark = unmark_metadata("dc_failover")

        def restore(item: tuple[str, int]) -> Any:
            # Only what still carries the mark: an object reverted already may have changed since.
            current = ignore_404(lambda: target.apps.read_namespaced_deployment(item[0], namespace))
            if current is None or not _marked(current):
                return None
            body = {"metadata": unmark, "spec": {"replicas": item[1]}}
            return ignore_404(lambda: target.apps.patch_namespaced_deployment(item[0], namespace, body))

        parallel(restore, list(dict(undo.get("replicas") or {}).items()))
        cm_name, routing = undo.get("routing_configmap"), undo.get("routing")
        if cm_name and routing is not None:
            current = ignore_404(lambda: target.core.read_namespaced_config_map(str(cm_name), namespace))
            if current is not None and _marked(current):
                # A replace, not a merge: keys added by the failover must go too.
                current.data = dict(routing)
                strip_mark(metadata_of(current), "dc_failover")  # the model's own dicts, edited in place
                target.core.replace_namespaced_config_map(str(cm_name), namespace, current)

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        namespace = str(args.get("namespace", "default"))
        env.drivers.kube(env.configuration).check_namespace(namespace)
        return {"dc": str(args["dc"]), "namespace": namespace}

    def undo_from_marks(self, objects: Sequence[MarkedObject]) -> dict[str, Any]:
        first = objects[0]
        maps = [o for o in objects if o.object_kind == "ConfigMap"]
        return {
            "namespace": first.namespace or str(first.mark.undo.get("namespace", "")),
            "replicas": {
                o.name: int(o.mark.undo["replicas"]) for o in objects if o.object_kind == "Deployment"
            },
            "routing_configmap": maps[0].name if maps else None,
            "routing": maps[0].mark.undo.get("data") if maps else None,
        }


KINDS = (StopGateway(), ScaleDcToZero())
