"""The Kubernetes client: a checked connection to one named context, and the calls every
fault kind and read shares (error mapping, parallel requests, lean pod lists).

Why not chaostoolkit-kubernetes (``chaosk8s``) clients: ``chaosk8s.create_k8s_api_client``
silently falls back to the kubeconfig's *current* context when none is given, reads the
kubeconfig only from ``$KUBECONFIG`` as it was when first imported, sets ``verify_ssl`` to
False on the *class-wide* client configuration unless ``KUBERNETES_VERIFY_SSL`` is set, and
builds a fresh client for every call. A drill must never hit whatever cluster ``kubectl``
happens to point at, so this module builds its own client from an explicit ``kube_context``
and ``kubeconfig``; :mod:`chaosdrill.drivers.kube.guards` refuses contexts that look like
production and namespaces outside the allowlist. chaosk8s stays the reference we measure
against (``benchmarks/k8s_scale.py``).

The Python client has no client-side QPS limiter to raise (client-go's QPS/burst have no
equivalent in it); throughput comes from a large connection pool and parallel requests,
and from collection calls wherever the API offers them.
"""

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from threading import Lock
from typing import Any, TypedDict, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from chaosdrill.drivers.kube.guards import (
    allowed_namespaces,
    checked_context,
    kubeconfig_of,
    namespace_problem,
)
from chaosdrill.errors import BadInput, PermanentError, TemporaryError

__all__ = [
    "DC_LABEL",
    "POOL",
    "ZONE_LABEL",
    "ApiException",
    "Eviction",
    "KubeTarget",
    "KubeWhere",
    "PodInfo",
    "call",
    "chaosk8s_secrets",
    "connect",
    "connect_at",
    "delete_pod",
    "evict_pod",
    "ignore_404",
    "is_daemon",
    "list_pods",
    "live_pod_metadata",
    "live_pod_uids",
    "metadata_of",
    "owner_deployments",
    "parallel",
    "pods_on_nodes",
    "raw_pods",
    "wait_until",
    "zone_node_names",
]

ZONE_LABEL = "topology.kubernetes.io/zone"
DC_LABEL = "chaosdrill.io/datacenter"
POOL = 64
T = TypeVar("T")

# --------------------------------------------------------------------------- connection


class KubeWhere(TypedDict):
    """Where a recorded Kubernetes fault is undone: every kind's undo state starts with it."""

    kubeconfig: str
    kube_context: str


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

    def where(self) -> "KubeWhere":
        """What an undo needs to reach this cluster again: the kubeconfig and context."""
        return KubeWhere(kubeconfig=self.kubeconfig, kube_context=self.context)


_clients: dict[tuple[str, str], k8s.ApiClient] = {}
_clients_lock = Lock()


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
    """Validate the experiment's Kubernetes configuration and return a client for it
    (see :mod:`chaosdrill.drivers.kube.guards` for what is checked)."""
    conf = configuration or {}
    context = checked_context(conf)
    allow = allowed_namespaces(conf)
    kubeconfig = kubeconfig_of(conf)
    return KubeTarget(kubeconfig, context, allow, _api_client(kubeconfig, context))


def connect_at(kubeconfig: str | None, context: str) -> KubeTarget:
    """A client for an explicitly named context, with no experiment: ``chaosdrill recover``
    and the undo of a recorded fault.

    ``kubeconfig`` None means ``$KUBECONFIG``, then ``~/.kube/config``. There is no
    namespace allowlist and no production guard: recovery only removes chaosdrill's own faults.
    """
    path = kubeconfig_of({"kubeconfig": kubeconfig} if kubeconfig else {})
    return KubeTarget(path, context, None, _api_client(path, context))


def chaosk8s_secrets(configuration: Mapping[str, Any] | None) -> dict[str, str]:
    """Secrets that make a chaosk8s activity use our checked context with TLS verification on.

    chaosk8s reads the kubeconfig path from ``$KUBECONFIG`` only, so the caller must
    export ``kubeconfig`` there; the context and TLS settings travel in these secrets.
    """
    target = connect(configuration)
    return {"KUBERNETES_CONTEXT": target.context, "KUBERNETES_VERIFY_SSL": "true"}


def call(what: str, fn: Callable[[], T]) -> T:
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


def ignore_404(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def parallel(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    batch = list(items)
    if len(batch) <= 1:
        return [fn(i) for i in batch]
    with ThreadPoolExecutor(max_workers=min(POOL, len(batch))) as pool:
        return list(pool.map(fn, batch))


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
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
    labels: dict[str, str] = field(default_factory=dict)

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
            labels=dict(meta.get("labels") or {}),
        )


def raw_pods(what: str, lister: Callable[..., Any], *args: Any, **kwargs: Any) -> list[PodInfo]:
    """Pods as :class:`PodInfo`, from the raw JSON of a list call (no client models built)."""
    response = call(what, lambda: lister(*args, _preload_content=False, **kwargs))
    items = json.loads(response.data).get("items") or []
    return [PodInfo.from_json(item) for item in items]


def list_pods(target: KubeTarget, namespace: str, selector: str) -> list[PodInfo]:
    pods = raw_pods(
        f"list pods {selector!r} in {namespace}",
        target.core.list_namespaced_pod,
        namespace,
        label_selector=selector,
    )
    return [p for p in pods if p.live]


# A pod list as metadata only (PartialObjectMetadataList): half the bytes of the full
# pods, and a quarter of the time to list 2,000 of them. The phase filter runs on the
# server, so "live" means the same as in _list_pods: not finished, not being deleted.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"


def live_pod_uids(target: KubeTarget, namespace: str, selector: str) -> dict[str, str]:
    """Name -> uid of the live pods matching ``selector``, from one metadata-only list."""
    return {
        name: str(meta.get("uid", ""))
        for name, meta in live_pod_metadata(target, namespace, selector).items()
    }


def live_pod_metadata(target: KubeTarget, namespace: str, selector: str) -> dict[str, dict[str, Any]]:
    """Name -> metadata (uid, labels...) of the live pods matching ``selector``, from one
    metadata-only list."""
    response = call(
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
    return {m["name"]: m for m in metas if not m.get("deletionTimestamp")}


def delete_pod(target: KubeTarget, namespace: str, name: str, uid: str, grace_period_s: int) -> bool:
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


@dataclass(frozen=True)
class Eviction:
    """What the Eviction API answered for one pod: ``evicted``, ``gone`` (404: nothing to
    evict), or ``refused`` (429: a PodDisruptionBudget allows no disruption now) with the
    API server's words for why."""

    outcome: str
    detail: str = ""


def evict_pod(target: KubeTarget, namespace: str, name: str) -> Eviction:
    """POST a policy/v1 Eviction for one pod: the API server deletes it only if every
    PodDisruptionBudget covering it allows one more disruption (with the pod's own grace
    period), and answers 429 otherwise. Other errors are raised (mapped by :func:`call`)."""
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    try:
        response = target.core.create_namespaced_pod_eviction(name, namespace, body, _preload_content=False)
    except ApiException as e:
        if e.status == 404:
            return Eviction("gone")
        if e.status == 429:
            return Eviction("refused", _refusal(e))
        raise
    _ = response.data  # read to the end: hands the connection back to the pool
    return Eviction("evicted")


def _refusal(e: ApiException) -> str:
    """The API server's reason for a 429 eviction: its message and the budgets' causes."""
    try:
        status = json.loads(e.body or "{}")
    except ValueError:
        return str(e.body or e.reason or "")
    causes = [str(c.get("message", "")) for c in (status.get("details") or {}).get("causes") or []]
    return "; ".join(filter(None, [str(status.get("message", "")), *causes])) or str(e.reason or "")


def owner_deployments(target: KubeTarget, namespace: str, pods: Sequence[PodInfo]) -> list[str]:
    replicasets = {name for p in pods for kind, name in p.owners if kind == "ReplicaSet"}
    names: set[str] = set()
    for rs_name in sorted(replicasets):
        rs = ignore_404(partial(target.apps.read_namespaced_replica_set, rs_name, namespace))
        if rs is not None:
            names.update(r.name for r in (rs.metadata.owner_references or []) if r.kind == "Deployment")
    return sorted(names)


def zone_node_names(target: KubeTarget, zone: str) -> list[str]:
    nodes = call(
        f"list nodes in {zone}", lambda: target.core.list_node(label_selector=f"{ZONE_LABEL}={zone}")
    )
    return sorted(n.metadata.name for n in nodes.items)


def pods_on_nodes(target: KubeTarget, nodes: Sequence[str]) -> list[PodInfo]:
    def on(node: str) -> list[PodInfo]:
        found = raw_pods(
            f"list pods on {node}",
            target.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
        )
        return [p for p in found if p.live and not is_daemon(p)]

    return [p for group in parallel(on, nodes) for p in group]


def is_daemon(pod: PodInfo) -> bool:
    return any(kind == "DaemonSet" for kind, _ in pod.owners)


def metadata_of(obj: Any) -> dict[str, Any]:
    """The labels and annotations of a client model, shaped as the API's JSON metadata."""
    return {"labels": obj.metadata.labels or {}, "annotations": obj.metadata.annotations or {}}
