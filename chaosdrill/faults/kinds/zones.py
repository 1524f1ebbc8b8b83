"""Zone faults: take an availability zone out, or cut it off from the others.

On Kubernetes an outage cordons the zone's nodes and taints them NoSchedule, then evicts
the pods of the experiment's namespaces through the Eviction API (PodDisruptionBudgets
respected), so they are rescheduled in the surviving zones; other namespaces' pods are
left alone. A partition is a NetworkPolicy. On the sandbox the zone is named
``<dc>-<az>`` (``dc1-az-a``): an outage stops every replica of that AZ pool and holds it
at zero; a partition blackholes the gateway's links to the pool in toxiproxy.
"""

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, TypedDict, cast

from chaosdrill.drivers.kube.client import (
    DC_LABEL,
    ZONE_LABEL,
    Eviction,
    KubeTarget,
    KubeWhere,
    PodInfo,
    call,
    evict_pod,
    ignore_404,
    metadata_of,
    parallel,
    pods_on_nodes,
    wait_until,
    zone_node_names,
)
from chaosdrill.drivers.kube.guards import allowed_namespaces
from chaosdrill.drivers.kube.marks import Mark, MarkedObject, MarkError, read_mark, unmark_metadata
from chaosdrill.drivers.sandbox import SandboxDriver
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan
from chaosdrill.faults.toxics import ToxicFault

__all__ = [
    "KINDS",
    "POLL_S",
    "RETRY_S",
    "SHOWN",
    "EvictZone",
    "HoldPool",
    "PartitionPolicy",
    "PartitionToxic",
]

PARTITION_LABEL = "chaosdrill.io/partitioned-zone"
OUTAGE_TAINT = "chaosdrill.io/zone-outage"
RETRY_S = 1.0  # between rounds of evictions a PodDisruptionBudget refused (429)
POLL_S = 0.25  # between rounds otherwise
SHOWN = 50  # pods preflight lists one by one; the rest are counted
OUTAGE = {"actions.zones.zone_outage": "inject", "actions.zones.zone_outage_rollback": "remove"}
PARTITION = {"actions.zones.zone_partition": "inject", "actions.zones.zone_partition_rollback": "remove"}


class PoolUndo(TypedDict):
    """The held pool, and the supervisor that holds it."""

    instance: str
    api: str
    dc: str
    az: str


class OutageUndo(KubeWhere):
    """Each node of the zone with its ``unschedulable`` from before the outage."""

    zone: str
    nodes: dict[str, bool]


class PartitionUndo(KubeWhere):
    zone: str
    namespace: str
    pods: list[str]


# --------------------------------------------------------------------------- sandbox


class HoldPool(FaultKind):
    """Stop every replica of the zone's AZ pool and hold it at zero (the supervisor keeps it there)."""

    name = "zone_outage"
    targets = (Target.SANDBOX,)
    activities = OUTAGE

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"zone_outage:{args['zone']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        zone = str(args["zone"])
        sandbox: SandboxDriver = env.drivers.sandbox()
        dc, az = sandbox.zone_pool(zone)
        return Plan(
            key=self.key(env, args),
            description=f"stop every replica of {dc}/{az} and hold the pool at zero",
            undo=PoolUndo(instance=sandbox.instance_id, api=sandbox.supervisor_api, dc=dc, az=az),
            touches=(f"replica pool {dc}/{az}: stop every replica and hold it at zero",),
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        dc, az = str(plan.undo["dc"]), str(plan.undo["az"])
        started = time.monotonic()
        sandbox.post(f"{sandbox.supervisor_api}/hold", {"dc": dc, "az": az, "held": True})
        if not wait_until(lambda: sandbox.live_replicas(dc, az) == 0, 10.0, interval_s=0.05):
            raise FaultNotApplied(
                f"{dc}/{az} still has {sandbox.live_replicas(dc, az)} replicas after the outage"
            )
        return {"zone": f"{dc}-{az}", "pool": f"{dc}/{az}", "down_after_s": time.monotonic() - started}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(PoolUndo, undo)
        sandbox = drivers.sandbox_instance(state["instance"])
        if sandbox is not None:
            sandbox.post(f"{state['api']}/hold", {"dc": state["dc"], "az": state["az"], "held": False})

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"zone": str(args["zone"])}


class PartitionToxic(ToxicFault):
    """Blackhole every link from the DC's gateway to the zone's replica pool."""

    name = "zone_partition"
    targets = (Target.SANDBOX,)
    activities = PARTITION
    toxic = "chaosdrill-partition"
    toxic_type = "timeout"

    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"timeout": 0}

    def selection(self, env: Env, args: Mapping[str, Any]) -> tuple[str, str, str]:
        dc, az = env.drivers.sandbox().zone_pool(str(args["zone"]))
        return dc, az, "replicas"


# --------------------------------------------------------------------------- kubernetes


def _outage_taint(zone: str) -> dict[str, str]:
    return {"key": OUTAGE_TAINT, "value": zone, "effect": "NoSchedule"}


def _taints_without_ours(node: Any) -> list[dict[str, Any]]:
    return [
        {"key": t.key, "value": t.value, "effect": t.effect}
        for t in (node.spec.taints or [])
        if t.key != OUTAGE_TAINT
    ]


def _ours(node: Any) -> bool:
    """Whether the node carries our taint, whatever its effect (outages recorded before the
    eviction-based one tainted NoExecute; their undo must still find it)."""
    return any(t.key == OUTAGE_TAINT for t in node.spec.taints or [])


def _untaint(target: KubeTarget, nodes: Mapping[str, bool]) -> None:
    """Take our taint off and put ``unschedulable`` back, on the nodes that still carry the taint:
    a node whose taint is gone was reverted already, and its cordon may be someone else's now."""

    def untaint(item: tuple[str, bool]) -> None:
        name, was_unschedulable = item
        node = ignore_404(lambda: target.core.read_node(name))
        if node is None or not _ours(node):
            return
        body = {
            "metadata": unmark_metadata("zone_outage"),
            "spec": {"unschedulable": was_unschedulable, "taints": _taints_without_ours(node)},
        }
        target.core.patch_node(name, body)

    parallel(untaint, list(nodes.items()))


def _nodes_with_our_taint(target: KubeTarget, nodes: Sequence[str]) -> dict[str, bool]:
    """Nodes still carrying our taint, each with its ``unschedulable`` from before the fault.

    The node's mark says what that was; a taint with no mark (put there by hand) gets the
    node uncordoned.
    """
    tainted: dict[str, bool] = {}
    for name in nodes:
        node = target.core.read_node(name)
        if _ours(node):
            try:
                mark = read_mark("zone_outage", metadata_of(node))
            except MarkError:
                mark = None
            tainted[name] = bool(mark.undo.get("unschedulable", False)) if mark else False
    return tainted


def _outage_namespaces(env: Env, args: Mapping[str, Any]) -> tuple[str, ...]:
    """The namespaces whose pods an outage evicts: the ``namespaces`` argument, else the
    experiment's ``chaosdrill_allow_namespaces``; with neither the outage is refused, since
    it would otherwise have to evict every namespace's pods. Checked before any call."""
    given = args.get("namespaces")
    if given is None:
        allowed = allowed_namespaces(env.configuration)
        if not allowed:
            raise BadInput(
                "<argument>",
                "namespaces",
                "a Kubernetes zone outage evicts only the pods of the namespaces it is given: "
                "pass namespaces, or set configuration.chaosdrill_allow_namespaces",
            )
        return tuple(allowed)
    if not isinstance(given, list | tuple) or not given or not all(isinstance(n, str) and n for n in given):
        raise BadInput(
            "<argument>", "namespaces", f"must be a non-empty list of namespace names, got {given!r}"
        )
    return tuple(dict.fromkeys(given))


def _evictable(target: KubeTarget, nodes: Sequence[str], namespaces: Sequence[str]) -> list[PodInfo]:
    """The live pods on ``nodes`` an outage evicts: those of ``namespaces``, DaemonSets' aside."""
    return [p for p in pods_on_nodes(target, nodes) if p.namespace in namespaces]


class EvictZone(FaultKind):
    """Take ``zone`` out: cordon its nodes and taint them NoSchedule, then evict the pods of
    the allowed namespaces through the Eviction API.

    Each node carries the fault's mark (with its previous ``unschedulable``) in the same patch
    as the cordon and taint, so a sweep of the cluster can undo it without the ledger. Pods
    go through policy/v1 Evictions, so PodDisruptionBudgets hold: a 429 (the budget allows
    no disruption now) is retried every ``RETRY_S`` until ``wait_evicted_s`` runs out, then
    the fault fails naming the pods and the budgets' words, and is undone. Pods of other
    namespaces stay where they are: only the cordon and taint reach them (nothing new lands
    on the zone). A NoExecute taint would have evicted every namespace's pods, budgets
    ignored.
    """

    name = "zone_outage"
    targets = (Target.KUBERNETES,)
    activities = OUTAGE
    marks = ("Node",)

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"zone_outage/{env.configuration.get('kube_context', '')}/{args['zone']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        zone = str(args["zone"])
        namespaces = _outage_namespaces(env, args)
        target: KubeTarget = env.drivers.kube(env.configuration)
        for namespace in namespaces:
            target.check_namespace(namespace)
        nodes = zone_node_names(target, zone)
        if not nodes:
            raise ActivityFailed(f"zone_outage: no node is labelled {ZONE_LABEL}={zone}")
        before, dcs, down = {}, set(), []
        for name in nodes:
            node = call(f"read node {name}", partial(target.core.read_node, name))
            before[name] = bool(node.spec.unschedulable)
            dcs.add((node.metadata.labels or {}).get(DC_LABEL))
            if _ours(node):
                down.append(name)
        if down:
            # Its undo state would record the outage itself as "before": refuse, touch nothing.
            raise ActivityFailed(
                f"zone_outage: zone {zone} is already down (nodes {down} carry {OUTAGE_TAINT}); roll it back first"
            )
        on_zone = pods_on_nodes(target, nodes)
        evict = sorted(f"{p.namespace}/{p.name}" for p in on_zone if p.namespace in namespaces)
        stay = sorted(f"{p.namespace}/{p.name}" for p in on_zone if p.namespace not in namespaces)
        touches = [f"node {n}: cordon, taint {OUTAGE_TAINT}=NoSchedule" for n in nodes]
        touches += [f"pod {p}: evict (Eviction API, PodDisruptionBudgets respected)" for p in evict[:SHOWN]]
        if len(evict) > SHOWN:
            touches.append(f"... and {len(evict) - SHOWN} more pods of {list(namespaces)}: evict")
        if stay:
            touches.append(f"{len(stay)} pods of other namespaces stay on the zone (not evicted)")
        return Plan(
            key=self.key(env, args),
            description=f"cordon {len(nodes)} nodes of zone {zone} and evict {len(evict)} pods of {list(namespaces)}",
            undo=OutageUndo(**target.where(), zone=zone, nodes=before),
            touches=tuple(touches),
            details={"nodes": nodes, "namespaces": list(namespaces), "evict": evict, "stay": len(stay)},
            dcs=tuple(sorted(dc for dc in dcs if dc)),  # nodes labelled with their DC, where they are
            namespaces=namespaces,
            work={"target": target, "wait_s": float(args.get("wait_evicted_s", 120.0))},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        target: KubeTarget = plan.work["target"]
        zone, before = str(plan.undo["zone"]), dict(plan.undo["nodes"])
        nodes, wait_s, namespaces = list(before), float(plan.work["wait_s"]), plan.namespaces

        def taint(name: str) -> None:
            node = target.core.read_node(name)
            taints = [*_taints_without_ours(node), _outage_taint(zone)]
            body = {
                "metadata": {
                    "resourceVersion": node.metadata.resource_version,
                    **mark.with_undo(zone=zone, unschedulable=before[name]).metadata(),
                },
                "spec": {"unschedulable": True, "taints": taints},
            }
            target.core.patch_node(name, body)

        def applied(name: str) -> bool:
            node = target.core.read_node(name)
            ours = [t for t in node.spec.taints or [] if t.key == OUTAGE_TAINT and t.effect == "NoSchedule"]
            return bool(node.spec.unschedulable) and bool(ours)

        start = time.monotonic()
        call("cordon and taint nodes", lambda: parallel(taint, nodes))
        oks = call("read nodes", lambda: parallel(applied, nodes))
        missed = [n for n, ok in zip(nodes, oks, strict=True) if not ok]
        if missed:
            raise FaultNotApplied(f"zone_outage: nodes {missed} are not cordoned and tainted after the patch")
        tainted_at = time.monotonic() - start
        evicted, refusals = self._evict(target, zone, nodes, namespaces, start + wait_s, wait_s)
        return {
            "zone": zone,
            "nodes": nodes,
            "namespaces": list(namespaces),
            "evicted": len(evicted),
            "refused_429": refusals,
            "tainted_s": round(tainted_at, 3),
            "evicted_s": round(time.monotonic() - start, 3),
        }

    @staticmethod
    def _evict(
        target: KubeTarget,
        zone: str,
        nodes: Sequence[str],
        namespaces: Sequence[str],
        deadline: float,
        wait_s: float,
    ) -> tuple[set[str], int]:
        """Evict until no pod of ``namespaces`` is left on ``nodes``, retrying 429s until
        ``deadline``; returns the pods evicted and how many 429s were answered."""
        evicted: set[str] = set()
        refused: dict[str, str] = {}
        refusals = 0
        while True:
            left = _evictable(target, nodes, namespaces)
            if not left:
                return evicted, refusals
            if time.monotonic() >= deadline:
                raise FaultNotApplied(_not_evicted(zone, wait_s, left, refused, refusals))
            answers = call("evict pods", partial(parallel, partial(_evict_one, target), left))
            for pod, answer in answers:
                name = f"{pod.namespace}/{pod.name}"
                if answer.outcome == "refused":
                    refused[name] = answer.detail
                    refusals += 1
                else:
                    refused.pop(name, None)
                    if answer.outcome == "evicted":
                        evicted.add(name)
            pause = RETRY_S if refused else POLL_S  # evicted pods are terminating: not listed next round
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(OutageUndo, undo)
        target = drivers.kube_at(state.get("kubeconfig"), state["kube_context"])
        _untaint(target, dict(state.get("nodes") or {}))

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        """Also clean a taint left by hand or by a lost ledger: only ours, never a foreign one."""
        zone = str(args["zone"])
        target: KubeTarget = env.drivers.kube(env.configuration)
        nodes = zone_node_names(target, zone)
        _untaint(target, _nodes_with_our_taint(target, nodes))
        return {"zone": zone, "nodes": nodes}

    def undo_from_marks(self, objects: Sequence[MarkedObject]) -> dict[str, Any]:
        return {
            "zone": objects[0].mark.undo.get("zone"),
            "nodes": {o.name: bool(o.mark.undo.get("unschedulable", False)) for o in objects},
        }


def _evict_one(target: KubeTarget, pod: PodInfo) -> tuple[PodInfo, Eviction]:
    return pod, evict_pod(target, pod.namespace, pod.name)


def _not_evicted(
    zone: str, wait_s: float, left: Sequence[PodInfo], refused: Mapping[str, str], refusals: int
) -> str:
    """Why an outage failed: the pods still on the zone, and what their budgets said."""
    names = [f"{p.namespace}/{p.name}" for p in left]
    blocked = [n for n in names if n in refused]
    message = f"zone_outage: {len(left)} pods still on {zone} after {wait_s}s (e.g. {names[0]})"
    if blocked:
        message += (
            f"; PodDisruptionBudgets refused their eviction ({refusals} answers 429 in all): "
            + "; ".join(f"{n}: {refused[n]}" for n in blocked[:3])
            + (f"; and {len(blocked) - 3} more" if len(blocked) > 3 else "")
        )
    return message


def _policy_name(zone: str) -> str:
    return f"chaosdrill-partition-{zone}"


def _policy(target: KubeTarget, zone: str, namespace: str) -> Any:
    return ignore_404(lambda: target.networking.read_namespaced_network_policy(_policy_name(zone), namespace))


def _heal(target: KubeTarget, zone: str, namespace: str, pods: Sequence[str]) -> None:
    ignore_404(lambda: target.networking.delete_namespaced_network_policy(_policy_name(zone), namespace))
    labelled = target.core.list_namespaced_pod(namespace, label_selector=f"{PARTITION_LABEL}={zone}").items
    unlabel = {"metadata": {"labels": {PARTITION_LABEL: None}}}
    parallel(
        lambda n: ignore_404(lambda: target.core.patch_namespaced_pod(n, namespace, unlabel)),
        sorted({p.metadata.name for p in labelled} | set(pods)),
    )


class PartitionPolicy(FaultKind):
    """Deny traffic between the pods in ``zone`` and every other pod of ``namespace``.

    A NetworkPolicy selects pods by label, not by node, so the pods now running in the zone
    are labelled ``chaosdrill.io/partitioned-zone=<zone>`` and the policy admits only
    traffic among them. Pods scheduled into the zone later are not covered. The policy
    takes effect only where a network plugin enforces NetworkPolicy (kwok's pods have no
    network, so on the local cluster the check is the policy itself).
    """

    name = "zone_partition"
    targets = (Target.KUBERNETES,)
    activities = PARTITION
    marks = ("NetworkPolicy",)

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        context = env.configuration.get("kube_context", "")
        return f"zone_partition/{context}/{args.get('namespace', 'default')}/{args['zone']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        zone, namespace = str(args["zone"]), str(args.get("namespace", "default"))
        target: KubeTarget = env.drivers.kube(env.configuration)
        target.check_namespace(namespace)
        nodes = zone_node_names(target, zone)
        if not nodes:
            raise ActivityFailed(f"zone_partition: no node is labelled {ZONE_LABEL}={zone}")
        pods = [p.name for p in pods_on_nodes(target, nodes) if p.namespace == namespace]
        if not pods:
            raise ActivityFailed(
                f"zone_partition: no live pods of namespace {namespace!r} run in zone {zone}"
            )
        if call("read NetworkPolicy", lambda: _policy(target, zone, namespace)) is not None:
            raise ActivityFailed(
                f"zone_partition: {namespace}/{_policy_name(zone)} exists already (a partition not yet healed)"
            )
        return Plan(
            key=self.key(env, args),
            description=f"NetworkPolicy isolating {len(pods)} pods of zone {zone} in {namespace}",
            undo=PartitionUndo(**target.where(), zone=zone, namespace=namespace, pods=pods),
            touches=(
                f"NetworkPolicy {namespace}/{_policy_name(zone)}: create",
                *(f"pod {namespace}/{p}: label" for p in pods),
            ),
            namespaces=(namespace,),
            work={"target": target},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        target: KubeTarget = plan.work["target"]
        zone, namespace, pods = str(plan.undo["zone"]), str(plan.undo["namespace"]), list(plan.undo["pods"])
        same_zone = {"matchLabels": {PARTITION_LABEL: zone}}
        marked = mark.with_undo(zone=zone, namespace=namespace).metadata()
        policy = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": _policy_name(zone),
                "labels": {"app.kubernetes.io/managed-by": "chaosdrill", **marked["labels"]},
                "annotations": marked["annotations"],
            },
            "spec": {
                "podSelector": same_zone,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": same_zone}]}],
                "egress": [{"to": [{"podSelector": same_zone}]}],
            },
        }
        label = {"metadata": {"labels": {PARTITION_LABEL: zone}}}
        call(
            "label pods",
            lambda: parallel(
                lambda n: ignore_404(lambda: target.core.patch_namespaced_pod(n, namespace, label)), pods
            ),
        )
        call(
            "create NetworkPolicy",
            lambda: target.networking.create_namespaced_network_policy(namespace, policy),
        )
        got = call("read NetworkPolicy", lambda: _policy(target, zone, namespace))
        labelled = call(
            "list partitioned pods",
            lambda: (
                target.core.list_namespaced_pod(namespace, label_selector=f"{PARTITION_LABEL}={zone}").items
            ),
        )
        if got is None or not labelled:
            raise FaultNotApplied(
                f"zone_partition: policy or pod labels for {zone} not found after creating them"
            )
        return {"zone": zone, "namespace": namespace, "policy": _policy_name(zone), "pods": sorted(pods)}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(PartitionUndo, undo)
        target = drivers.kube_at(state.get("kubeconfig"), state["kube_context"])
        _heal(target, state["zone"], state["namespace"], list(state.get("pods") or []))

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        zone, namespace = str(args["zone"]), str(args.get("namespace", "default"))
        target: KubeTarget = env.drivers.kube(env.configuration)
        target.check_namespace(namespace)
        _heal(target, zone, namespace, [])
        return {"zone": zone, "namespace": namespace}

    def undo_from_marks(self, objects: Sequence[MarkedObject]) -> dict[str, Any]:
        first = objects[0]
        namespace = first.namespace or str(first.mark.undo.get("namespace", ""))
        return {"zone": first.mark.undo["zone"], "namespace": namespace, "pods": []}


KINDS = (HoldPool(), PartitionToxic(), EvictZone(), PartitionPolicy())
