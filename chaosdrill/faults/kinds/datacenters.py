"""Data center faults: lose a whole DC and fail its users over to the survivors.

Users belong to cells (``hash(user_id) % N``) and each cell to a DC. On Kubernetes a DC is
the set of Deployments labelled ``chaosdrill.io/datacenter``; failing it over scales them
to zero and moves its cells in the routing ConfigMap, and the undo restores the exact
replica counts and cell map recorded before the fault. On the sandbox the whole DC goes:
its gateway, replicas, Redis and session-state members, and its links; the edge moves its
cells, the replica of its session state is promoted, and the undo fails back without losing
an acknowledged write (see :class:`DcOutage`).
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

__all__ = ["KINDS", "DcOutage", "PromoteReplica", "ScaleDcToZero"]

ACTIVITIES = {
    "actions.datacenters.dc_failover": "inject",
    "actions.datacenters.dc_failover_rollback": "remove",
}


class DcOutage(FaultKind):
    """Lose a whole sandbox DC: its gateway, replicas, cache Redis, session members and links.

    Recovery is the drill's, as it would be in production: the edge moves the DC's cells to
    the survivors (its health checks), and the replica of the DC's session state, in the next
    DC, is promoted (``promote``, the default) so the survivors serve the lost cells from it.
    Whatever that replica had not received when the DC went is lost: the RPO.

    The undo brings the DC back with its cells held on the survivors, lets its session
    members resync as replicas, waits until the DC has been healthy and in sync for
    ``failback_after_s``, switches each state's primary back with writes paused until the
    home member has every acknowledged write, and only then lets the cells go home.
    """

    name = "dc_failover"
    targets = (Target.SANDBOX,)
    activities = ACTIVITIES

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"dc_outage:{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc = str(args["dc"])
        failback_after_s = _non_negative(args, "failback_after_s", DEFAULT_FAILBACK_S)
        sync_timeout_s = _non_negative(args, "sync_timeout_s", DEFAULT_SYNC_TIMEOUT_S)
        max_lag = args.get("max_lag_bytes")
        if max_lag is not None and (isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 0):
            raise BadInput("<argument>", "max_lag_bytes", f"expected a non-negative integer, got {max_lag!r}")
        sandbox: SandboxDriver = env.drivers.sandbox()
        sandbox.known_dc(dc)  # ActivityFailed listing the valid names; nothing recorded
        down = sandbox.down_dcs()
        if down:
            raise ActivityFailed(
                f"dc_failover: {', '.join(down)} is out already; one DC outage at a time (roll it back first)"
            )
        replication = sandbox.replication()
        store = replication.get(dc)
        if store is None:
            raise ActivityFailed(f"dc_failover: the sandbox reports no session store for {dc}: {replication}")
        promote = bool(args.get("promote", True))
        if promote:
            _check_in_sync(dc, store, max_lag)
        peer = store.get("replica")
        touches = [
            f"data center {dc}: SIGKILL its gateway, replicas, cache Redis and session members",
            f"data center {dc}: cut its links (replica slots, Redis, sessions, replication)",
        ]
        if promote:
            touches.append(f"session state of {dc}: promote its replica in {peer}")
        return Plan(
            key=self.key(env, args),
            description=f"lose data center {dc} whole"
            + (f"; promote its state's replica in {peer}" if promote else ""),
            undo=DcOutageUndo(
                instance=sandbox.instance_id,
                api=sandbox.supervisor_api,
                dc=dc,
                edge=sandbox.edge_url,
                primaries={owner: str(s["primary"]) for owner, s in replication.items()},
                failback_after_s=failback_after_s,
                sync_timeout_s=sync_timeout_s,
            ),
            touches=tuple(touches),
            details={
                "replication": {
                    dc: {k: store.get(k) for k in ("primary", "replica", "in_sync", "lag_bytes", "lag_s")}
                }
            },
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox, "promote": promote},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        dc = str(plan.undo["dc"])
        before = sandbox.replication().get(dc, {})
        at = time.time()
        out = sandbox.post(f"{sandbox.supervisor_api}/dc", {"dc": dc, "up": False})
        killed = [int(p) for p in out.get("killed", [])]
        if not wait_until(lambda: not any(sandbox.is_alive(p) for p in killed), 5.0, interval_s=0.05):
            raise FaultNotApplied(
                f"processes of {dc} still alive: {[p for p in killed if sandbox.is_alive(p)]}"
            )
        if dc not in sandbox.down_dcs() or sandbox.gateway_running(dc):
            raise FaultNotApplied(f"the supervisor does not report {dc} out")
        promoted = None
        if plan.work["promote"]:
            # A failed promotion is ActivityFailed carrying the replication state; the engine
            # then undoes the outage, which restores the original primaries.
            answer = sandbox.post(
                f"{sandbox.supervisor_api}/sessions/promote", {"dc": dc, "reason": "dc_failover"}
            )
            promoted = answer.get("event")
            now = sandbox.fresh().get("sessions", {}).get(dc, {})
            if now.get("primary") == dc:
                raise FaultNotApplied(f"the session state of {dc} still has its primary in {dc}: {answer}")
        return {
            "dc": dc,
            "at": at,
            "killed": killed,
            "cut": out.get("cut", []),
            "lag_at_outage": {"bytes": before.get("lag_bytes"), "s": before.get("lag_s")},
            "promoted": promoted,
        }

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(DcOutageUndo, undo)
        sandbox: SandboxDriver | None = drivers.sandbox_instance(state["instance"])
        if sandbox is None:
            return  # the instance went, and its processes and proxies with it
        dc, api = state["dc"], state["api"]
        edge = state.get("edge")
        if "primaries" not in state:  # a record of the gateway-only outage this kind replaced
            sandbox.post(f"{api}/gateway", {"dc": dc, "running": True})
            return
        if edge:
            sandbox.post(f"{edge}/admin/away", {"dc": dc, "away": True})
        if dc in sandbox.down_dcs():
            sandbox.post(f"{api}/dc", {"dc": dc, "up": True})
        _wait_failback(sandbox, state)
        for owner, primary in sorted(state["primaries"].items()):
            now = sandbox.fresh().get("sessions", {}).get(owner, {})
            if now.get("primary") != primary:
                sandbox.post(f"{api}/sessions/promote", {"dc": owner, "to": primary, "reason": "failback"})
        _wait_gateways_follow(sandbox, dict(state["primaries"]))
        if edge:
            sandbox.post(f"{edge}/admin/away", {"dc": dc, "away": False})

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"dc": str(args["dc"])}


class PromoteReplica(FaultKind):
    """Promote the replica of a sandbox DC's session state: a runbook's manual step.

    With the primary alive it is a planned switchover that loses nothing acknowledged; with
    the primary gone (its DC out) it is a promotion that loses what the replica lacked. The
    undo switches the primary back to the member that held it before, once that member is
    running again (while its DC is out, the DC outage's own undo brings it back).
    """

    name = "replica_promotion"
    targets = (Target.SANDBOX,)
    activities = {
        "actions.replication.promote_replica": "inject",
        "actions.replication.promote_replica_rollback": "remove",
    }

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"replica_promotion:{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc = str(args["dc"])
        sandbox: SandboxDriver = env.drivers.sandbox()
        sandbox.known_dc(dc)
        store = sandbox.replication().get(dc)
        if not store or not store.get("replica"):
            raise ActivityFailed(f"replica_promotion: {dc}'s session state has no replica: {store}")
        primary, replica = str(store["primary"]), str(store["replica"])
        if (store.get("members") or {}).get(replica, {}).get("role") != "replica":
            raise ActivityFailed(
                f"replica_promotion: the member of {dc}'s state in {replica} is not a replica: {store}"
            )
        return Plan(
            key=self.key(env, args),
            description=f"promote the replica of {dc}'s session state in {replica} (primary now in {primary})",
            undo=PromotionUndo(
                instance=sandbox.instance_id, api=sandbox.supervisor_api, dc=dc, primary=primary
            ),
            touches=(f"session state of {dc}: primary {primary} -> {replica}; the gateways follow",),
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox, "to": replica},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        dc, to = str(plan.undo["dc"]), str(plan.work["to"])
        answer = sandbox.post(
            f"{sandbox.supervisor_api}/sessions/promote", {"dc": dc, "to": to, "reason": "runbook"}
        )
        if sandbox.fresh().get("sessions", {}).get(dc, {}).get("primary") != to:
            raise FaultNotApplied(f"the session state of {dc} does not have its primary in {to}: {answer}")
        return {
            "dc": dc,
            "primary": to,
            "event": answer.get("event"),
            "replication": answer.get("replication"),
        }

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(PromotionUndo, undo)
        sandbox: SandboxDriver | None = drivers.sandbox_instance(state["instance"])
        if sandbox is None:
            return
        store = sandbox.fresh().get("sessions", {}).get(state["dc"], {})
        original = state["primary"]
        if store.get("primary") == original or not store.get("members", {}).get(original, {}).get("pid"):
            return  # back already, or its member is out with its DC (that outage's undo restores it)
        sandbox.post(
            f"{state['api']}/sessions/promote", {"dc": state["dc"], "to": original, "reason": "rollback"}
        )

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"dc": str(args["dc"])}


class PromotionUndo(TypedDict):
    """The DC whose state was promoted, and where its primary was before."""

    instance: str
    api: str
    dc: str
    primary: str


DEFAULT_FAILBACK_S = 5.0
DEFAULT_SYNC_TIMEOUT_S = 30.0


def _non_negative(args: Mapping[str, Any], name: str, default: float) -> float:
    value = args.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadInput("<argument>", name, f"expected a non-negative number of seconds, got {value!r}")
    return float(value)


def _check_in_sync(dc: str, store: Mapping[str, Any], max_lag: int | None) -> None:
    """Refuse an outage whose promotion could not work as planned: a replica whose link is
    down (or still in its first sync), or one further behind than ``max_lag_bytes``."""
    state = {k: store.get(k) for k in ("primary", "replica", "in_sync", "lag_bytes", "lag_s", "members")}
    if not store.get("in_sync"):
        raise ActivityFailed(f"dc_failover: the replica of {dc}'s session state is not in sync: {state}")
    lag = store.get("lag_bytes")
    if max_lag is not None and (lag is None or int(lag) > max_lag):
        raise ActivityFailed(
            f"dc_failover: the replica of {dc}'s session state is {lag} bytes behind, over max_lag_bytes={max_lag}: {state}"
        )


def _wait_failback(sandbox: SandboxDriver, state: "DcOutageUndo") -> None:
    """Wait until the DC has been healthy at the edge, with every session member it hosts in
    sync, for ``failback_after_s`` in a row; ActivityFailed (the fault stays active, its cells
    stay away) if that does not happen within ``sync_timeout_s`` more."""
    dc = state["dc"]
    hold = float(state.get("failback_after_s", 0.0))
    deadline = time.monotonic() + hold + float(state.get("sync_timeout_s", DEFAULT_SYNC_TIMEOUT_S))
    since: float | None = None
    last: dict[str, Any] = {}
    while True:
        healthy = bool(sandbox.edge_state().get(dc, {}).get("healthy")) if state.get("edge") else True
        last = sandbox.replication()
        synced = all(s.get("in_sync") for owner, s in last.items() if dc in (s.get("members") or {}))
        now = time.monotonic()
        if healthy and synced:
            since = now if since is None else since
            if now - since >= hold:
                return
        else:
            since = None
        if now > deadline:
            raise ActivityFailed(
                f"dc_failover: {dc} was not healthy and in sync for {hold:g}s in a row "
                f"(edge healthy: {healthy}); its cells stay on the survivors. Replication: {last}"
            )
        time.sleep(0.1)


def _wait_gateways_follow(sandbox: SandboxDriver, primaries: dict[str, str], timeout_s: float = 5.0) -> None:
    """Let the cells go home only once every running gateway routes to the restored primaries
    (they re-read the routing table every 0.25 s); past ``timeout_s``, go on regardless: a
    stale gateway's writes fail and are retried on the new primary, never acknowledged lost."""

    def followed() -> bool:
        for dc in sandbox.fresh()["dcs"]:
            try:
                routes = sandbox.admin_get(sandbox.gateway_url(dc), "/admin/state").get("sessions")
            except ActivityFailed:
                continue  # a gateway not running routes nothing
            if routes is not None and any(routes.get(o) != p for o, p in primaries.items()):
                return False
        return True

    wait_until(followed, timeout_s, interval_s=0.05)


class DcOutageUndo(TypedDict, total=False):
    """The lost DC, the supervisor and edge that bring it back, and each state's primary
    before the outage (restored on failback). Records of the gateway-only outage this kind
    replaced hold ``instance``, ``api`` and ``dc`` alone."""

    instance: str
    api: str
    dc: str
    edge: str
    primaries: dict[str, str]
    failback_after_s: float
    sync_timeout_s: float


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


KINDS = (DcOutage(), PromoteReplica(), ScaleDcToZero())
