"""A surge of load. On the sandbox it multiplies the arrival rate of the running load's
matching streams (open model: the new rate holds whatever the service does), and lives and
dies with the load worker. On Kubernetes, where kwok pods run no process, it raises the
simulated CPU usage the HPA sees instead.
"""

import fnmatch
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, TypedDict, cast

from chaosdrill.drivers.kube.client import (
    KubeTarget,
    KubeWhere,
    call,
    ignore_404,
    list_pods,
    owner_deployments,
    parallel,
)
from chaosdrill.drivers.kube.marks import Mark, MarkedObject, mark_key, unmark_metadata
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied, NotRunning
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["KINDS", "CpuSurge", "LoadSurge"]

ACTIVITIES = {"actions.traffic.surge": "inject", "actions.traffic.end_surge": "remove"}
USAGE_CPU = "kwok.x-k8s.io/usage-cpu"
NO_LOAD = "no load is running; declare the chaosdrill.controls.load control in the experiment"


class LoadSurgeUndo(TypedDict):
    """The load worker the surge lives in, and the streams it multiplied."""

    control_url: str
    pid: int
    stream: str


class CpuSurgeUndo(KubeWhere):
    """Each pod's and Deployment template's usage annotation from before the surge."""

    namespace: str
    selector: str
    surged: str
    pods: dict[str, str | None]
    templates: dict[str, str | None]


class LoadSurge(FaultKind):
    """Multiply the rate of the load streams matching ``stream`` by ``factor``."""

    name = "surge"
    targets = (Target.SANDBOX, Target.SYSTEM)  # the load is ours, whatever it is sent to
    activities = ACTIVITIES
    takes_ttl = False  # it ends with its load worker

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"surge:{args.get('stream', '*')}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        factor, pattern = args.get("factor", 5.0), str(args.get("stream", "*"))
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1000:
            raise BadInput("<argument>", "factor", f"must be within (0, 1000], got {factor}")
        handle = env.drivers.load()
        if handle is None:
            raise NotRunning(NO_LOAD)
        details: dict[str, Any] = {}
        touches = [f"load streams {pattern!r}: x{factor:g}"]
        streams: Sequence[Mapping[str, Any]] | None = env.drivers.load_streams()
        if streams is not None:  # known before the run (preflight): say which and to what rate
            matched = [s for s in streams if fnmatch.fnmatchcase(str(s.get("name")), pattern)]
            if not matched:
                names = ", ".join(str(s.get("name")) for s in streams)
                raise ActivityFailed(f"stream {pattern!r} matches no load stream (streams: {names})")
            details["streams"] = [
                {"name": s["name"], "rate": s["rate"], "new_rate": float(s["rate"]) * factor} for s in matched
            ]
            touches = [
                f"load stream {s['name']} (tenant {s.get('tenant', 'default')}): "
                f"x{factor:g}: {s['rate']} -> {float(s['rate']) * factor:g} req/s"
                for s in matched
            ]
        return Plan(
            key=self.key(env, args),
            description=f"load streams {pattern!r} x{factor}",
            undo=LoadSurgeUndo(control_url=handle.control_url, pid=handle.pid, stream=pattern),
            touches=tuple(touches),
            details=details,
            work={"handle": handle, "factor": float(factor)},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        factor, handle = plan.work["factor"], plan.work["handle"]
        result: dict[str, Any] = handle.set_factor(str(plan.undo["stream"]), factor)
        streams = handle.status().get("streams") or {}
        missed = [n for n in result.get("matched") or [] if (streams.get(n) or {}).get("factor") != factor]
        if missed or not result.get("matched"):
            raise FaultNotApplied(
                f"the load worker did not take factor {factor:g} for streams {missed or plan.undo['stream']}"
            )
        return {"factor": factor, **result}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        """Set the streams' factor back to 1; a surge whose worker is gone went with it."""
        state = cast(LoadSurgeUndo, undo)
        handle = drivers.load()
        if handle is None or handle.pid != state.get("pid") or not handle.alive():
            return
        handle.set_factor(state["stream"], 1.0)


def _annotation_patch(value: str | None) -> dict[str, Any]:
    return {"metadata": {"annotations": {USAGE_CPU: value}}}


def _usage_patch(value: str | None, mark: Mapping[str, Any]) -> dict[str, Any]:
    """A pod patch setting the usage annotation and putting on (or taking off) the mark."""
    return {"metadata": {"labels": mark["labels"], "annotations": {**mark["annotations"], USAGE_CPU: value}}}


class CpuSurge(FaultKind):
    """Raise kwok's simulated CPU usage on the matching pods and their Deployments' templates.

    metrics-server reports the annotation as usage, so an HPA on CPU reacts as it would to
    real load. The template gets it too, so the pods the HPA adds are as hot as the rest;
    that template change rolls the Deployment (at once on kwok), and so does the undo. The
    exact previous values go into the ledger and into each object's fault mark.
    """

    name = "surge"
    targets = (Target.KUBERNETES,)
    activities = ACTIVITIES
    marks = ("Deployment", "Pod")
    mark_name = "cpu_surge"

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        context = env.configuration.get("kube_context", "")
        return f"cpu_surge/{context}/{args.get('namespace', 'default')}/{args.get('selector', '')}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        selector, namespace = str(args.get("selector", "")), str(args.get("namespace", "default"))
        usage = str(args.get("usage_cpu") or "")
        if not usage:
            raise BadInput("<experiment>", "usage_cpu", "must be a CPU quantity such as '900m'")
        target: KubeTarget = env.drivers.kube(env.configuration)
        target.check_namespace(namespace)
        pods = list_pods(target, namespace, selector)
        if not pods:
            raise ActivityFailed(f"surge_cpu: no live pods match {selector!r} in namespace {namespace!r}")
        deployments = owner_deployments(target, namespace, pods)
        hot = sorted(p.name for p in pods if mark_key(self.mark_kind) in p.labels)
        if hot:
            # Their "previous" usage would be the surge's own: refuse, touch nothing.
            raise ActivityFailed(f"surge_cpu: pods {hot[:5]} carry a CPU surge already; end it first")
        before_pods = {p.name: p.annotations.get(USAGE_CPU) for p in pods}
        before_templates: dict[str, str | None] = {}
        for name in deployments:
            dep = call(
                f"read deployment {name}", partial(target.apps.read_namespaced_deployment, name, namespace)
            )
            before_templates[name] = (dep.spec.template.metadata.annotations or {}).get(USAGE_CPU)
        return Plan(
            key=self.key(env, args),
            description=f"simulated CPU usage {usage} on {selector!r} in {namespace}",
            undo=CpuSurgeUndo(
                **target.where(),
                namespace=namespace,
                selector=selector,
                surged=usage,
                pods=before_pods,
                templates=before_templates,
            ),
            touches=(
                *(f"Deployment {namespace}/{d}: template CPU usage -> {usage}" for d in deployments),
                f"{len(pods)} pods matching {selector!r}: CPU usage -> {usage}",
            ),
            namespaces=(namespace,),
            work={"target": target},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        target: KubeTarget = plan.work["target"]
        undo = plan.undo
        namespace, selector, usage = str(undo["namespace"]), str(undo["selector"]), str(undo["surged"])
        before_pods: dict[str, str | None] = undo["pods"]
        before_templates: dict[str, str | None] = undo["templates"]

        def surge_pod(name: str) -> Any:
            body = _usage_patch(usage, mark.with_undo(usage=before_pods[name]).metadata())
            return ignore_404(lambda: target.core.patch_namespaced_pod(name, namespace, body))

        call("surge pods", lambda: parallel(surge_pod, list(before_pods)))
        for name, was in before_templates.items():
            marked = mark.with_undo(template_usage=was, selector=selector, surged=usage)
            body = {"metadata": marked.metadata(), "spec": {"template": _annotation_patch(usage)}}
            call(
                f"patch deployment {name}",
                partial(target.apps.patch_namespaced_deployment, name, namespace, body),
            )
        for name in before_templates:
            dep = target.apps.read_namespaced_deployment(name, namespace)
            if (dep.spec.template.metadata.annotations or {}).get(USAGE_CPU) != usage:
                raise FaultNotApplied(f"surge_cpu: deployment {name} template kept its old usage")
        return {"pods": sorted(before_pods), "deployments": list(before_templates), "usage_cpu": usage}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        target = drivers.kube_at(undo.get("kubeconfig"), str(undo["kube_context"]))
        namespace = str(undo["namespace"])
        unmark = unmark_metadata(self.mark_kind)
        templates = dict(undo.get("templates") or {})
        for name, value in templates.items():
            # Only what still carries the mark: an object reverted already may have changed since.
            dep = ignore_404(partial(target.apps.read_namespaced_deployment, name, namespace))
            if dep is None or mark_key(self.mark_kind) not in (dep.metadata.labels or {}):
                continue
            body = {"metadata": unmark, "spec": {"template": _annotation_patch(value)}}
            ignore_404(partial(target.apps.patch_namespaced_deployment, name, namespace, body))
        pods: dict[str, str | None] = dict(undo.get("pods") or {})
        # Pods born during the surge (HPA scale-out, rollout) got the surged value from the
        # template; give them what the template had before.
        selector, surged = undo.get("selector"), undo.get("surged")
        live = {p.name: p for p in list_pods(target, namespace, str(selector))} if selector else {}
        marked = {n for n, p in live.items() if mark_key(self.mark_kind) in p.labels}
        pods = {n: v for n, v in pods.items() if n in marked or n not in live}  # unmarked: reverted already
        if selector and surged is not None:
            fallback = next(iter(templates.values()), None)
            for pod in live.values():
                if pod.name not in pods and pod.annotations.get(USAGE_CPU) == surged:
                    pods[pod.name] = fallback

        def restore(item: tuple[str, str | None]) -> Any:
            body = _usage_patch(item[1], unmark)
            return ignore_404(lambda: target.core.patch_namespaced_pod(item[0], namespace, body))

        parallel(restore, list(pods.items()))

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        namespace = str(args.get("namespace", "default"))
        env.drivers.kube(env.configuration).check_namespace(namespace)
        return {"namespace": namespace, "selector": str(args.get("selector", ""))}

    def undo_from_marks(self, objects: Sequence[MarkedObject]) -> dict[str, Any]:
        deps = [o for o in objects if o.object_kind == "Deployment"]
        first = objects[0]
        return {
            "namespace": first.namespace or str(first.mark.undo.get("namespace", "")),
            "templates": {o.name: o.mark.undo.get("template_usage") for o in deps},
            "pods": {o.name: o.mark.undo.get("usage") for o in objects if o.object_kind == "Pod"},
            "selector": deps[0].mark.undo.get("selector") if deps else None,
            "surged": deps[0].mark.undo.get("surged") if deps else None,
        }


KINDS = (LoadSurge(), CpuSurge())
