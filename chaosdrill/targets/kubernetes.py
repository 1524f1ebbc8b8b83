"""The Kubernetes driver: every fault chaosdrill injects into a cluster, and its undo.

Why not call chaostoolkit-kubernetes (``chaosk8s``) activities directly: each builds its
client through ``chaosk8s.create_k8s_api_client``, which silently falls back to the
kubeconfig's *current* context when none is given, reads the kubeconfig only from
``$KUBECONFIG`` (as the client saw it when first imported: setting it later is ignored),
sets ``verify_ssl`` to False on the *class-wide* client configuration
unless ``KUBERNETES_VERIFY_SSL`` is set, and builds a fresh client for every call. A drill
must never hit whatever cluster ``kubectl`` happens to point at, so this module builds
its own client from an explicit ``kube_context`` and ``kubeconfig``, refuses contexts that
look like production unless the experiment opts in, and refuses namespaces outside
``chaosdrill_allow_namespaces``. chaosk8s stays the reference we measure against
(``benchmarks/k8s_scale.py``) and what :func:`chaosk8s_secrets` hands to its activities
when an experiment wants to call them with our context rules.

Every fault goes through :func:`chaosdrill.targets.inject` (recorded before it is applied)
and is checked after it is applied (:class:`FaultNotApplied` if it did not take). The
revert arguments stored in the ledger hold the kubeconfig, context and exact previous
state, so :func:`revert` works after a crash with no experiment at hand.

The Python client has no client-side QPS limiter to raise (client-go's QPS/burst have
no equivalent in it); throughput comes from a large connection pool and parallel
requests, and from collection calls wherever the API offers them.
"""

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from threading import Lock
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from chaosdrill import targets
from chaosdrill.activity import check_amount, check_dc_allowed, how_many, max_percentage, namespace_problem
from chaosdrill.errors import BadInput, FaultNotApplied, PermanentError, TemporaryError
from chaosdrill.ledger import Fault
from chaosdrill.targets.kube_marks import Mark, MarkError, read_mark, strip_mark, unmark_metadata

__all__ = [
    "DC_LABEL",
    "OUTAGE_TAINT",
    "USAGE_CPU",
    "ZONE_LABEL",
    "DeploymentState",
    "HpaState",
    "KubeTarget",
    "PdbState",
    "PodInfo",
    "PodPlacement",
    "as_json",
    "chaosk8s_secrets",
    "connect",
    "connect_context",
    "cordoned_nodes",
    "dc_failover",
    "dc_failover_rollback",
    "deployments",
    "hpas",
    "kill_pods",
    "pdbs",
    "pod_placements",
    "restore_cpu",
    "revert",
    "surge_cpu",
    "zone_nodes",
    "zone_outage",
    "zone_outage_rollback",
    "zone_partition",
    "zone_partition_rollback",
]

DRIVER = "kubernetes"
ZONE_LABEL = "topology.kubernetes.io/zone"
DC_LABEL = "chaosdrill.io/datacenter"
PARTITION_LABEL = "chaosdrill.io/partitioned-zone"
OUTAGE_TAINT = "chaosdrill.io/zone-outage"
USAGE_CPU = "kwok.x-k8s.io/usage-cpu"
POOL = 64
T = TypeVar("T")


# --------------------------------------------------------------------------- connection


@dataclass(frozen=True)
class KubeTarget:
    """A checked connection: which cluster, as whom, and which namespaces a drill may touch."""

    kubeconfig: str
    context: str
    allow_namespaces: tuple[str, ...] | None
    # The client's models are typed Optional all the way down; drivers treat them as Any.
    api: Any = field(compare=False, repr=False)

    @property
    def core(self) -> Any:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        return k8s.AppsV1Api(self.api)

    @property
    def autoscaling(self) -> Any:
        return k8s.AutoscalingV2Api(self.api)

    @property
    def policy(self) -> Any:
        return k8s.PolicyV1Api(self.api)

    @property
    def networking(self) -> Any:
        return k8s.NetworkingV1Api(self.api)

    def check_namespace(self, namespace: str) -> str:
        problem = namespace_problem(namespace, self.allow_namespaces)
        if problem is not None:
            raise BadInput("<experiment>", "namespace", problem)
        return namespace

    def revert_args(self, **more: Any) -> dict[str, Any]:
        return {"kubeconfig": self.kubeconfig, "kube_context": self.context, **more}


_clients: dict[tuple[str, str], k8s.ApiClient] = {}
_clients_lock = Lock()


def _kubeconfig_of(configuration: Mapping[str, Any]) -> str:
    raw = configuration.get("kubeconfig")
    if raw:
        path = Path(os.path.expanduser(str(raw)))
        field_name = "configuration.kubeconfig"
    else:
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        path = Path(os.path.expanduser(env or "~/.kube/config"))
        field_name = "configuration.kubeconfig (unset; tried $KUBECONFIG or ~/.kube/config)"
    if not path.is_file():
        raise BadInput("<experiment>", field_name, f"kubeconfig {str(path)!r} does not exist")
    return str(path)


def _api_client(kubeconfig: str, context: str) -> k8s.ApiClient:
    key = (kubeconfig, context)
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None:
            return cached
        try:
            contexts, _current = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        except Exception as e:  # the loader raises bare ConfigException/yaml errors
            raise BadInput(
                "<experiment>", "configuration.kubeconfig", f"{kubeconfig}: unreadable: {e}"
            ) from e
        names = sorted(c["name"] for c in contexts or [])
        if context not in names:
            raise BadInput(
                "<experiment>",
                "configuration.kube_context",
                f"context {context!r} is not in {kubeconfig} (it has: {', '.join(names) or 'none'})",
            )
        conf = k8s.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=conf
        )
        conf.connection_pool_maxsize = POOL
        conf.retries = 3
        api = k8s.ApiClient(conf)
        _clients[key] = api
        return api


def connect(configuration: Mapping[str, Any] | None) -> KubeTarget:
    """Validate the experiment's Kubernetes configuration and return a client for it.

    ``kube_context`` is required (never the kubeconfig's current context); a context whose
    name contains "prod" also needs ``chaosdrill_allow_production: true``.
    """
    conf = configuration or {}
    context = conf.get("kube_context")
    if not context or not isinstance(context, str):
        raise BadInput(
            "<experiment>",
            "configuration.kube_context",
            "required for chaosdrill_target kubernetes; chaosdrill never falls back to the current context",
        )
    if "prod" in context.lower() and conf.get("chaosdrill_allow_production") is not True:
        raise BadInput(
            "<experiment>",
            "configuration.kube_context",
            f"{context!r} looks like production; set chaosdrill_allow_production: true to drill it",
        )
    allow = conf.get("chaosdrill_allow_namespaces")
    if allow is not None and (not isinstance(allow, list) or not all(isinstance(n, str) for n in allow)):
        raise BadInput("<experiment>", "configuration.chaosdrill_allow_namespaces", "must be a list of names")
    kubeconfig = _kubeconfig_of(conf)
    return KubeTarget(
        kubeconfig=kubeconfig,
        context=context,
        allow_namespaces=tuple(allow) if allow is not None else None,
        api=_api_client(kubeconfig, context),
    )


def connect_context(kubeconfig: str | None, context: str) -> KubeTarget:
    """A client for an explicitly named context, with no experiment (``chaosdrill recover``).

    ``kubeconfig`` None means ``$KUBECONFIG``, then ``~/.kube/config``. There is no
    namespace allowlist and no production guard: recovery only removes chaosdrill's own faults.
    """
    path = _kubeconfig_of({"kubeconfig": kubeconfig} if kubeconfig else {})
    return KubeTarget(path, context, None, _api_client(path, context))


def _from_revert_args(args: Mapping[str, Any]) -> KubeTarget:
    kubeconfig = str(args["kubeconfig"])
    context = str(args["kube_context"])
    return KubeTarget(kubeconfig, context, None, _api_client(kubeconfig, context))


def chaosk8s_secrets(configuration: Mapping[str, Any] | None) -> dict[str, str]:
    """Secrets that make a chaosk8s activity use our checked context with TLS verification on.

    chaosk8s reads the kubeconfig path from ``$KUBECONFIG`` only, so the caller must
    export ``kubeconfig`` there; the context and TLS settings travel in these secrets.
    """
    target = connect(configuration)
    return {"KUBERNETES_CONTEXT": target.context, "KUBERNETES_VERIFY_SSL": "true"}


def _call(what: str, fn: Callable[[], T]) -> T:
    """Map client errors into the engine's tree, keeping the cause."""
    try:
        return fn()
    except ApiException as e:
        if e.status in (429, 500, 502, 503, 504):
            raise TemporaryError(f"{what}: API server answered {e.status} {e.reason}") from e
        raise PermanentError(f"{what}: API server answered {e.status} {e.reason}: {_api_message(e)}") from e
    except OSError as e:
        raise TemporaryError(f"{what}: cannot reach the API server: {e}") from e


def _api_message(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message", ""))
    except (ValueError, AttributeError):
        return str(e.body or "")


def _ignore_404(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def _parallel(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    batch = list(items)
    if len(batch) <= 1:
        return [fn(i) for i in batch]
    with ThreadPoolExecutor(max_workers=min(POOL, len(batch))) as pool:
        return list(pool.map(fn, batch))


def _wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


@dataclass(frozen=True)
class PodInfo:
    """The few pod fields the driver needs, read straight from the API's JSON.

    Building the client's full models for thousands of pods costs more than the API
    call itself (seconds at 10,000 pods), so pod lists skip them.
    """

    name: str
    namespace: str
    uid: str
    node: str | None
    live: bool
    ready: bool
    annotations: dict[str, str]
    owners: tuple[tuple[str, str], ...]  # (kind, name)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "PodInfo":
        meta, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
        conditions = status.get("conditions") or []
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace", ""),
            uid=meta.get("uid", ""),
            node=spec.get("nodeName"),
            live=not meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
            annotations=dict(meta.get("annotations") or {}),
            owners=tuple((o.get("kind", ""), o.get("name", "")) for o in meta.get("ownerReferences") or []),
        )


def _raw_pods(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[PodInfo]:
    response = _call(what, lambda: call(*args, _preload_content=False, **kwargs))
    items = json.loads(response.data).get("items") or []
    return [PodInfo.from_json(item) for item in items]


def _list_pods(target: KubeTarget, namespace: str, selector: str) -> list[PodInfo]:
    pods = _raw_pods(
        f"list pods {selector!r} in {namespace}",
        target.core.list_namespaced_pod,
        namespace,
        label_selector=selector,
    )
    return [p for p in pods if p.live]


# --------------------------------------------------------------------------- revert


def revert(args: dict[str, Any]) -> None:
    """Undo one recorded fault from its stored args alone; safe to call twice."""
    op = args.get("op")
    handlers: dict[str, Callable[[KubeTarget, Mapping[str, Any]], None]] = {
        "none": lambda _t, _a: None,
        "zone_outage": _revert_zone_outage,
        "zone_partition": _revert_zone_partition,
        "dc_failover": _revert_dc_failover,
        "cpu_surge": _revert_cpu_surge,
    }
    handler = handlers.get(str(op))
    if handler is None:
        raise BadInput("<ledger>", "revert.op", f"unknown kubernetes fault kind {op!r}")
    if op == "none":
        return
    handler(_from_revert_args(args), args)


def _inject(
    target: KubeTarget,
    kind: str,
    key: str,
    description: str,
    revert_args: dict[str, Any],
    apply: Callable[[], T],
) -> T:
    return _inject_marked(target, kind, key, description, revert_args, lambda _mark: apply(), None)


def _inject_marked(
    target: KubeTarget,
    kind: str,
    key: str,
    description: str,
    revert_args: dict[str, Any],
    apply: Callable[[Mark], T],
    ttl_s: float | None,
) -> T:
    """Record the fault, then apply it; ``apply`` gets the mark to put on each object it changes."""
    fault = Fault(
        driver=DRIVER,
        kind=kind,
        key=f"{kind}/{target.context}/{key}",
        description=description,
        revert=target.revert_args(**{"op": kind, **revert_args}),
        ttl_s=targets.checked_ttl(ttl_s),
        run_id=targets.current_run_id(),
    )
    mark = Mark(kind=kind, fault_id=fault.id, run_id=fault.run_id, expires_at=fault.expires_at)
    return targets.inject(fault, partial(apply, mark))


def _rollback(target: KubeTarget, kind: str, key: str) -> int:
    return targets.rollback(DRIVER, f"{kind}/{target.context}/{key}")


# --------------------------------------------------------------------------- pods


# A pod list as metadata only (PartialObjectMetadataList): half the bytes of the full
# pods, and a quarter of the time to list 2,000 of them. The phase filter runs on the
# server, so "live" means the same as in _list_pods: not finished, not being deleted.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"


def _live_pod_uids(target: KubeTarget, namespace: str, selector: str) -> dict[str, str]:
    """Name -> uid of the live pods matching ``selector``, from one metadata-only list."""
    response = _call(
        f"list pods {selector!r} in {namespace}",
        lambda: target.core.list_namespaced_pod(
            namespace,
            label_selector=selector,
            field_selector=_NOT_FINISHED,
            _preload_content=False,
            _headers={"Accept": _METADATA_LIST},
        ),
    )
    items = json.loads(response.data).get("items") or []
    metas = [item.get("metadata") or {} for item in items]
    return {m["name"]: m.get("uid", "") for m in metas if not m.get("deletionTimestamp")}


def _delete_pod(target: KubeTarget, namespace: str, name: str, uid: str, grace_period_s: int) -> bool:
    """DELETE one pod, only if it is still the one we chose (uid precondition).

    False if it was already gone (404). The answer is read as bytes and dropped: building
    the client's V1Pod model from it would cost the client more CPU than the request itself,
    CPU the API server needs on a small machine; the kill is verified by listing instead.
    """
    body = {"gracePeriodSeconds": grace_period_s, "preconditions": {"uid": uid}}
    try:
        response = target.core.delete_namespaced_pod(name, namespace, body=body, _preload_content=False)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    _ = response.data  # read to the end, which hands the connection back to the pool
    return True


def kill_pods(
    selector: str,
    namespace: str,
    count: int | None,
    percentage: float | None,
    grace_period_s: int,
    configuration: Mapping[str, Any],
) -> dict[str, Any]:
    """Delete ``count`` pods (or ``percentage`` % rounded up; neither: one) matching ``selector``.

    Refused (ActivityFailed, nothing deleted) if that is more than
    ``configuration.chaosdrill_max_percentage`` of the matching pods.

    Pods are chosen at random among live ones and deleted in parallel, each with a uid
    precondition: a pod already gone is skipped (404), and one replaced meanwhile under the
    same name (a StatefulSet's) is not deleted, the API answers 409 and the call fails.
    With no grace period the pods must be gone at once: a second list proves it
    (:class:`FaultNotApplied` otherwise).

    Not ``deletecollection``: it takes one label selector and no per-pod uid precondition,
    so it cannot delete a random subset, and it would also delete the replacements the
    ReplicaSet creates while it runs.
    """
    check_amount(count, percentage)
    if grace_period_s < 0:
        raise BadInput("<experiment>", "grace_period_s", f"must be >= 0, got {grace_period_s}")
    target = connect(configuration)
    target.check_namespace(namespace)
    began = time.monotonic()
    uids = _live_pod_uids(target, namespace, selector)
    listed_s = time.monotonic() - began
    if not uids:
        raise ActivityFailed(f"kill_pods: no live pods match {selector!r} in namespace {namespace!r}")
    wanted = how_many(len(uids), count, percentage, max_percentage(configuration), default_count=1)
    victims = sorted(random.sample(sorted(uids), wanted))

    def delete(name: str) -> str | None:
        return name if _delete_pod(target, namespace, name, uids[name], grace_period_s) else None

    def apply() -> dict[str, Any]:
        start = time.monotonic()
        killed = [n for n in _call("delete pods", lambda: _parallel(delete, victims)) if n]
        deleted_s = time.monotonic() - start
        if grace_period_s == 0:
            still = set(_live_pod_uids(target, namespace, selector).values()) & {uids[n] for n in killed}
            if still:
                raise FaultNotApplied(
                    f"kill_pods: {len(still)} of {len(killed)} pods still live after delete"
                )
        return {
            "killed": killed,
            "matched": len(uids),
            "namespace": namespace,
            "selector": selector,
            "list_s": round(listed_s, 3),
            "delete_s": round(deleted_s, 3),
            "verify_s": round(time.monotonic() - start - deleted_s, 3),
        }

    result = _inject(
        target,
        "pod_kill",
        f"{namespace}/{selector}",
        f"delete {len(victims)} of {len(uids)} pods {selector!r} in {namespace}",
        {"op": "none"},
        apply,
    )
    # A kill needs no undo (the ReplicaSet is the undo): its entry is closed at once, as on the sandbox.
    _rollback(target, "pod_kill", f"{namespace}/{selector}")
    return result


def _owner_deployments(target: KubeTarget, namespace: str, pods: Sequence[PodInfo]) -> list[str]:
    replicasets = {name for p in pods for kind, name in p.owners if kind == "ReplicaSet"}
    names: set[str] = set()
    for rs_name in sorted(replicasets):
        rs = _ignore_404(partial(target.apps.read_namespaced_replica_set, rs_name, namespace))
        if rs is not None:
            names.update(r.name for r in (rs.metadata.owner_references or []) if r.kind == "Deployment")
    return sorted(names)


def _annotation_patch(value: str | None) -> dict[str, Any]:
    return {"metadata": {"annotations": {USAGE_CPU: value}}}


def _usage_patch(value: str | None, mark: dict[str, Any]) -> dict[str, Any]:
    """A pod patch setting the usage annotation and putting on (or taking off) the mark."""
    return {"metadata": {"labels": mark["labels"], "annotations": {**mark["annotations"], USAGE_CPU: value}}}


def surge_cpu(
    selector: str,
    namespace: str,
    usage_cpu: str,
    configuration: Mapping[str, Any],
    ttl_s: float | None = None,
) -> dict[str, Any]:
    """Raise kwok's simulated CPU usage on the matching pods and their Deployments' templates.

    metrics-server reports the annotation as usage, so an HPA on CPU reacts as it would to
    real load. The template gets it too, so the pods the HPA adds are as hot as the rest;
    that template change rolls the Deployment (at once on kwok), and so does the revert.
    The exact previous values go into the ledger for :func:`restore_cpu`, and into each
    object's fault mark.
    """
    if not usage_cpu:
        raise BadInput("<experiment>", "usage_cpu", "must be a CPU quantity such as '900m'")
    target = connect(configuration)
    target.check_namespace(namespace)
    pods = _list_pods(target, namespace, selector)
    if not pods:
        raise ActivityFailed(f"surge_cpu: no live pods match {selector!r} in namespace {namespace!r}")
    deployments_ = _owner_deployments(target, namespace, pods)
    before_pods = {p.name: p.annotations.get(USAGE_CPU) for p in pods}
    before_templates: dict[str, str | None] = {}
    for name in deployments_:
        dep = _call(
            f"read deployment {name}", partial(target.apps.read_namespaced_deployment, name, namespace)
        )
        before_templates[name] = (dep.spec.template.metadata.annotations or {}).get(USAGE_CPU)

    def apply(mark: Mark) -> dict[str, Any]:
        _parallel(
            lambda n: _ignore_404(
                lambda: target.core.patch_namespaced_pod(
                    n, namespace, _usage_patch(usage_cpu, mark.with_undo(usage=before_pods[n]).metadata())
                )
            ),
            list(before_pods),
        )
        for name in deployments_:
            undo = mark.with_undo(template_usage=before_templates[name], selector=selector, surged=usage_cpu)
            _call(
                f"patch deployment {name}",
                partial(
                    target.apps.patch_namespaced_deployment,
                    name,
                    namespace,
                    {"metadata": undo.metadata(), "spec": {"template": _annotation_patch(usage_cpu)}},
                ),
            )
        for name in deployments_:
            dep = target.apps.read_namespaced_deployment(name, namespace)
            if (dep.spec.template.metadata.annotations or {}).get(USAGE_CPU) != usage_cpu:
                raise FaultNotApplied(f"surge_cpu: deployment {name} template kept its old usage")
        return {"pods": sorted(before_pods), "deployments": deployments_, "usage_cpu": usage_cpu}

    return _inject_marked(
        target,
        "cpu_surge",
        f"{namespace}/{selector}",
        f"simulated CPU usage {usage_cpu} on {selector!r} in {namespace}",
        {
            "namespace": namespace,
            "selector": selector,
            "surged": usage_cpu,
            "pods": before_pods,
            "templates": before_templates,
        },
        apply,
        ttl_s,
    )


def _revert_cpu_surge(target: KubeTarget, args: Mapping[str, Any]) -> None:
    namespace = str(args["namespace"])
    unmark = unmark_metadata("cpu_surge")
    for name, value in dict(args.get("templates") or {}).items():
        _ignore_404(
            partial(
                target.apps.patch_namespaced_deployment,
                name,
                namespace,
                {"metadata": unmark, "spec": {"template": _annotation_patch(value)}},
            )
        )
    pods: dict[str, str | None] = dict(args.get("pods") or {})
    # Pods born during the surge (HPA scale-out, rollout) got the surged value from the
    # template; give them what the template had before.
    selector, surged = args.get("selector"), args.get("surged")
    templates = list(dict(args.get("templates") or {}).values())
    if selector and surged is not None:
        fallback = templates[0] if templates else None
        for pod in _list_pods(target, namespace, str(selector)):
            if pod.name not in pods and pod.annotations.get(USAGE_CPU) == surged:
                pods[pod.name] = fallback
    _parallel(
        lambda item: _ignore_404(
            lambda: target.core.patch_namespaced_pod(item[0], namespace, _usage_patch(item[1], unmark))
        ),
        list(pods.items()),
    )


def restore_cpu(selector: str, namespace: str, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Put back the exact CPU usage annotations :func:`surge_cpu` replaced."""
    target = connect(configuration)
    target.check_namespace(namespace)
    reverted = _rollback(target, "cpu_surge", f"{namespace}/{selector}")
    return {"reverted": reverted, "namespace": namespace, "selector": selector}


# --------------------------------------------------------------------------- zones


def zone_nodes(zone: str, configuration: Mapping[str, Any]) -> list[str]:
    target = connect(configuration)
    return _zone_node_names(target, zone)


def _zone_node_names(target: KubeTarget, zone: str) -> list[str]:
    nodes = _call(
        f"list nodes in {zone}", lambda: target.core.list_node(label_selector=f"{ZONE_LABEL}={zone}")
    )
    return sorted(n.metadata.name for n in nodes.items)


def _outage_taint(zone: str) -> k8s.V1Taint:
    return k8s.V1Taint(key=OUTAGE_TAINT, value=zone, effect="NoExecute")


def _taints_without_ours(node: Any) -> list[dict[str, Any]]:
    return [
        {"key": t.key, "value": t.value, "effect": t.effect}
        for t in (node.spec.taints or [])
        if t.key != OUTAGE_TAINT
    ]


def _pods_on_nodes(target: KubeTarget, nodes: Sequence[str]) -> list[PodInfo]:
    def on(node: str) -> list[PodInfo]:
        found = _raw_pods(
            f"list pods on {node}",
            target.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
        )
        return [p for p in found if p.live and not _is_daemon(p)]

    return [p for group in _parallel(on, nodes) for p in group]


def _is_daemon(pod: PodInfo) -> bool:
    return any(kind == "DaemonSet" for kind, _ in pod.owners)


def zone_outage(
    zone: str, wait_evicted_s: float, configuration: Mapping[str, Any], ttl_s: float | None = None
) -> dict[str, Any]:
    """Cordon every node of ``zone`` and taint it NoExecute, then wait for its pods to be evicted.

    Each node carries the fault's mark (with its previous ``unschedulable``) in the same
    patch as the taint, so a sweep of the cluster can undo it without the ledger.
    """
    target = connect(configuration)
    nodes = _zone_node_names(target, zone)
    if not nodes:
        raise ActivityFailed(f"zone_outage: no node is labelled {ZONE_LABEL}={zone}")
    before = {}
    for name in nodes:
        node = _call(f"read node {name}", partial(target.core.read_node, name))
        before[name] = bool(node.spec.unschedulable)

    def taint(mark: Mark, name: str) -> None:
        node = target.core.read_node(name)
        taints = [*_taints_without_ours(node), target.api.sanitize_for_serialization(_outage_taint(zone))]
        body = {
            "metadata": {
                "resourceVersion": node.metadata.resource_version,
                **mark.with_undo(zone=zone, unschedulable=before[name]).metadata(),
            },
            "spec": {"unschedulable": True, "taints": taints},
        }
        target.core.patch_node(name, body)

    def apply(mark: Mark) -> dict[str, Any]:
        start = time.monotonic()
        _call("cordon and taint nodes", lambda: _parallel(partial(taint, mark), nodes))

        def applied(name: str) -> bool:
            node = target.core.read_node(name)
            ours = [t for t in node.spec.taints or [] if t.key == OUTAGE_TAINT and t.effect == "NoExecute"]
            return bool(node.spec.unschedulable) and bool(ours)

        missed = [
            n
            for n, ok in zip(nodes, _call("read nodes", lambda: _parallel(applied, nodes)), strict=True)
            if not ok
        ]
        if missed:
            raise FaultNotApplied(f"zone_outage: nodes {missed} are not cordoned and tainted after the patch")
        tainted_at = time.monotonic() - start
        evicted = _wait_until(lambda: not _pods_on_nodes(target, nodes), wait_evicted_s)
        if not evicted:
            left = _pods_on_nodes(target, nodes)
            raise FaultNotApplied(
                f"zone_outage: {len(left)} pods still on {zone} after {wait_evicted_s}s "
                f"(e.g. {left[0].namespace}/{left[0].name})"
            )
        return {
            "zone": zone,
            "nodes": nodes,
            "tainted_s": round(tainted_at, 3),
            "evicted_s": round(time.monotonic() - start, 3),
        }

    return _inject_marked(
        target,
        "zone_outage",
        zone,
        f"cordon and NoExecute-taint {len(nodes)} nodes of zone {zone}",
        {"zone": zone, "nodes": before},
        apply,
        ttl_s,
    )


def _revert_zone_outage(target: KubeTarget, args: Mapping[str, Any]) -> None:
    nodes: dict[str, bool] = dict(args.get("nodes") or {})

    def untaint(item: tuple[str, bool]) -> None:
        name, was_unschedulable = item
        node = _ignore_404(lambda: target.core.read_node(name))
        if node is None:
            return
        body = {
            "metadata": unmark_metadata("zone_outage"),
            "spec": {"unschedulable": was_unschedulable, "taints": _taints_without_ours(node)},
        }
        target.core.patch_node(name, body)

    _parallel(untaint, list(nodes.items()))


def zone_outage_rollback(zone: str, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Uncordon and untaint the zone's nodes (back to exactly how they were)."""
    target = connect(configuration)
    reverted = _rollback(target, "zone_outage", zone)
    nodes = _zone_node_names(target, zone)
    # Also clean a taint left by hand or by a lost ledger: only ours, never a foreign one.
    _revert_zone_outage(target, {"nodes": _nodes_with_our_taint(target, nodes)})
    return {"zone": zone, "reverted": reverted, "nodes": nodes}


def _nodes_with_our_taint(target: KubeTarget, nodes: Sequence[str]) -> dict[str, bool]:
    """Nodes still carrying our taint, each with its ``unschedulable`` from before the fault.

    The node's mark says what that was; a taint with no mark (put there by hand) gets
    the node uncordoned.
    """
    tainted: dict[str, bool] = {}
    for name in nodes:
        node = target.core.read_node(name)
        if any(t.key == OUTAGE_TAINT for t in node.spec.taints or []):
            try:
                mark = read_mark("zone_outage", _metadata(node))
            except MarkError:
                mark = None
            tainted[name] = bool(mark.undo.get("unschedulable", False)) if mark else False
    return tainted


def _metadata(obj: Any) -> dict[str, Any]:
    """The labels and annotations of a client model, shaped as the API's JSON metadata."""
    return {"labels": obj.metadata.labels or {}, "annotations": obj.metadata.annotations or {}}


def _policy_name(zone: str) -> str:
    return f"chaosdrill-partition-{zone}"


def zone_partition(
    zone: str, namespace: str, configuration: Mapping[str, Any], ttl_s: float | None = None
) -> dict[str, Any]:
    """Deny traffic between the pods in ``zone`` and every other pod of ``namespace``.

    A NetworkPolicy selects pods by label, not by node, so the pods now running in the
    zone are labelled ``chaosdrill.io/partitioned-zone=<zone>`` and the policy admits
    only traffic among them. Pods scheduled into the zone later are not covered. The
    policy takes effect only where a network plugin enforces NetworkPolicy (kwok's
    pods have no network, so on the local cluster the check is the policy itself).
    """
    target = connect(configuration)
    target.check_namespace(namespace)
    nodes = _zone_node_names(target, zone)
    if not nodes:
        raise ActivityFailed(f"zone_partition: no node is labelled {ZONE_LABEL}={zone}")
    pods = [p.name for p in _pods_on_nodes(target, nodes) if p.namespace == namespace]
    if not pods:
        raise ActivityFailed(f"zone_partition: no live pods of namespace {namespace!r} run in zone {zone}")
    same_zone = k8s.V1LabelSelector(match_labels={PARTITION_LABEL: zone})

    def apply(mark: Mark) -> dict[str, Any]:
        marked = mark.with_undo(zone=zone, namespace=namespace).metadata()
        policy = k8s.V1NetworkPolicy(
            metadata=k8s.V1ObjectMeta(
                name=_policy_name(zone),
                labels={"app.kubernetes.io/managed-by": "chaosdrill", **marked["labels"]},
                annotations=marked["annotations"],
            ),
            spec=k8s.V1NetworkPolicySpec(
                pod_selector=same_zone,
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.V1NetworkPolicyIngressRule(_from=[k8s.V1NetworkPolicyPeer(pod_selector=same_zone)])
                ],
                egress=[k8s.V1NetworkPolicyEgressRule(to=[k8s.V1NetworkPolicyPeer(pod_selector=same_zone)])],
            ),
        )
        label = {"metadata": {"labels": {PARTITION_LABEL: zone}}}
        _call(
            "label pods",
            lambda: _parallel(
                lambda n: _ignore_404(lambda: target.core.patch_namespaced_pod(n, namespace, label)), pods
            ),
        )
        _call(
            "create NetworkPolicy",
            lambda: target.networking.create_namespaced_network_policy(namespace, policy),
        )
        got = _ignore_404(
            lambda: target.networking.read_namespaced_network_policy(_policy_name(zone), namespace)
        )
        labelled = target.core.list_namespaced_pod(
            namespace, label_selector=f"{PARTITION_LABEL}={zone}"
        ).items
        if got is None or not labelled:
            raise FaultNotApplied(
                f"zone_partition: policy or pod labels for {zone} not found after creating them"
            )
        return {"zone": zone, "namespace": namespace, "policy": _policy_name(zone), "pods": sorted(pods)}

    return _inject_marked(
        target,
        "zone_partition",
        f"{namespace}/{zone}",
        f"NetworkPolicy isolating {len(pods)} pods of zone {zone} in {namespace}",
        {"zone": zone, "namespace": namespace, "pods": pods},
        apply,
        ttl_s,
    )


def _revert_zone_partition(target: KubeTarget, args: Mapping[str, Any]) -> None:
    zone, namespace = str(args["zone"]), str(args["namespace"])
    _ignore_404(lambda: target.networking.delete_namespaced_network_policy(_policy_name(zone), namespace))
    labelled = target.core.list_namespaced_pod(namespace, label_selector=f"{PARTITION_LABEL}={zone}").items
    unlabel = {"metadata": {"labels": {PARTITION_LABEL: None}}}
    _parallel(
        lambda n: _ignore_404(lambda: target.core.patch_namespaced_pod(n, namespace, unlabel)),
        sorted({p.metadata.name for p in labelled} | set(args.get("pods") or [])),
    )


def zone_partition_rollback(zone: str, namespace: str, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Delete the partition's NetworkPolicy and the pod labels it keyed on."""
    target = connect(configuration)
    target.check_namespace(namespace)
    reverted = _rollback(target, "zone_partition", f"{namespace}/{zone}")
    _revert_zone_partition(target, {"zone": zone, "namespace": namespace, "pods": []})
    return {"zone": zone, "namespace": namespace, "reverted": reverted}


# --------------------------------------------------------------------------- data centers


def dc_failover(
    dc: str,
    namespace: str,
    routing_configmap: str | None,
    wait_gone_s: float,
    configuration: Mapping[str, Any],
    ttl_s: float | None = None,
) -> dict[str, Any]:
    """Scale every Deployment labelled with data center ``dc`` to 0 and move its cells.

    The routing ConfigMap maps each cell (``cell-0``...) to a data center, as the edge's
    ``hash(user_id) % N`` does; the failed DC's cells go round-robin to the survivors.
    Each Deployment and the ConfigMap carry the fault's mark with their previous replica
    count or cell map, written in the same patch as the change. A DC outside
    ``chaosdrill_allow_dcs`` is refused before anything is read or touched.
    """
    check_dc_allowed(dc, configuration)
    target = connect(configuration)
    target.check_namespace(namespace)
    deps = _call(
        f"list deployments of {dc}",
        lambda: target.apps.list_namespaced_deployment(namespace, label_selector=f"{DC_LABEL}={dc}"),
    ).items
    if not deps:
        raise ActivityFailed(
            f"dc_failover: no Deployment labelled {DC_LABEL}={dc} in namespace {namespace!r}"
        )
    replicas = {d.metadata.name: int(d.spec.replicas or 0) for d in deps}
    routing_before: dict[str, str] | None = None
    routing_after: dict[str, str] | None = None
    if routing_configmap:
        cm = _ignore_404(lambda: target.core.read_namespaced_config_map(routing_configmap, namespace))
        if cm is None:
            raise BadInput(
                "<experiment>",
                "routing_configmap",
                f"ConfigMap {namespace}/{routing_configmap} does not exist",
            )
        routing_before = dict(cm.data or {})
        survivors = sorted({v for v in routing_before.values() if v != dc})
        if not survivors:
            raise ActivityFailed(f"dc_failover: no surviving data center to take {dc}'s cells")
        moved = [cell for cell, owner in sorted(routing_before.items()) if owner == dc]
        routing_after = dict(routing_before)
        for i, cell in enumerate(moved):
            routing_after[cell] = survivors[i % len(survivors)]
    selector = f"{DC_LABEL}={dc}"

    def apply(mark: Mark) -> dict[str, Any]:
        start = time.monotonic()
        if routing_configmap and routing_after is not None:
            body = {"metadata": mark.with_undo(data=routing_before).metadata(), "data": routing_after}
            _call(
                "shift traffic",
                lambda: target.core.patch_namespaced_config_map(routing_configmap, namespace, body),
            )
        _call(
            "scale deployments",
            lambda: _parallel(
                lambda n: target.apps.patch_namespaced_deployment(
                    n,
                    namespace,
                    {"metadata": mark.with_undo(replicas=replicas[n]).metadata(), "spec": {"replicas": 0}},
                ),
                list(replicas),
            ),
        )
        if not _wait_until(lambda: not _list_pods(target, namespace, selector), wait_gone_s):
            left = len(_list_pods(target, namespace, selector))
            raise FaultNotApplied(f"dc_failover: {left} pods of {dc} still live after {wait_gone_s}s")
        return {
            "dc": dc,
            "deployments": replicas,
            "routing": routing_after,
            "gone_s": round(time.monotonic() - start, 3),
        }

    return _inject_marked(
        target,
        "dc_failover",
        f"{namespace}/{dc}",
        f"scale {len(replicas)} Deployments of {dc} to 0 and move its cells",
        {
            "dc": dc,
            "namespace": namespace,
            "replicas": replicas,
            "routing_configmap": routing_configmap,
            "routing": routing_before,
        },
        apply,
        ttl_s,
    )


def _revert_dc_failover(target: KubeTarget, args: Mapping[str, Any]) -> None:
    namespace = str(args["namespace"])
    replicas: dict[str, int] = dict(args.get("replicas") or {})
    unmark = unmark_metadata("dc_failover")
    _parallel(
        lambda item: _ignore_404(
            lambda: target.apps.patch_namespaced_deployment(
                item[0], namespace, {"metadata": unmark, "spec": {"replicas": item[1]}}
            )
        ),
        list(replicas.items()),
    )
    cm_name, routing = args.get("routing_configmap"), args.get("routing")
    if cm_name and routing is not None:
        current = _ignore_404(lambda: target.core.read_namespaced_config_map(str(cm_name), namespace))
        if current is not None:
            # A replace, not a merge: keys added by the failover must go too.
            current.data = dict(routing)
            strip_mark(_metadata(current), "dc_failover")  # the model's own dicts, edited in place
            target.core.replace_namespaced_config_map(str(cm_name), namespace, current)


def dc_failover_rollback(dc: str, namespace: str, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Restore the DC's exact previous replica counts and its cells."""
    target = connect(configuration)
    target.check_namespace(namespace)
    reverted = _rollback(target, "dc_failover", f"{namespace}/{dc}")
    return {"dc": dc, "namespace": namespace, "reverted": reverted}


# --------------------------------------------------------------------------- reads for probes


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
    found = _call(
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
    pods = _list_pods(target, namespace, selector)
    nodes = _call("list nodes", lambda: target.core.list_node()).items
    zone_of = {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL) for n in nodes}
    return [
        PodPlacement(name=p.name, node=p.node, zone=zone_of.get(p.node or ""), ready=p.ready) for p in pods
    ]


def cordoned_nodes(configuration: Mapping[str, Any]) -> list[str]:
    target = connect(configuration)
    nodes = _call("list nodes", lambda: target.core.list_node()).items
    return sorted(n.metadata.name for n in nodes if n.spec.unschedulable)


def hpas(namespace: str, configuration: Mapping[str, Any]) -> list[HpaState]:
    target = connect(configuration)
    target.check_namespace(namespace)
    found = _call(
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
    found = _call("list PDBs", lambda: target.policy.list_namespaced_pod_disruption_budget(namespace)).items
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
