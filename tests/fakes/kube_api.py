"""An in-memory Kubernetes API server behind the official ``kubernetes`` client.

The fault code had tests only against a live kwok cluster. This fake takes the place of
the client's urllib3 pool manager and nothing else, the way httpx's ``MockTransport`` does:
URL building, serialization, model deserialization and ``ApiException`` are the real
client's, so a test exercises the same calls the fault code makes against a cluster.

Patches: for a dict body, ``patch_*`` in this client (kubernetes 37) sends
``application/strategic-merge-patch+json`` (its default ``json-patch+json`` is rewritten in
``rest.py`` when the body is not a list). Strategic and plain merge patches are both applied
as a JSON merge patch (RFC 7386): ``null`` deletes a key, objects merge, lists are replaced
whole. Merge keys and ``$patch`` directives are not modelled; our fault code always sends
whole lists. JSON Patch (a list body) and server-side apply get 415. PATCH and PUT keep the
stored status, uid and deletion fields, as the API server does outside the status
subresource: a test sets status with ``put``.

A pod deleted with a grace period (from DeleteOptions, else its
``terminationGracePeriodSeconds``, else 30) only gets ``metadata.deletionTimestamp``; no kubelet
ever finishes it, so a test removes it with ``remove`` or an ``on_write`` hook.

Evictions (``POST .../pods/<name>/eviction``, policy/v1) are modelled as the API server's
eviction subresource does them: every PodDisruptionBudget of the pod's namespace whose
selector matches the pod is consulted; with none allowing a disruption the answer is 429
(``TooManyRequests``, with the budget in the causes), with more than one 500, else the
budget's ``disruptionsAllowed`` drops by one and the pod is deleted as a DELETE would
(with the eviction's ``deleteOptions``). The hook sees that ``DELETE``, then an ``EVICT``
of the pod as it was left (terminating, with the pod's grace period).

Not modelled: watches, other subresources (status, scale, logs), finalizers, garbage
collection and any controller (use ``on_write``), namespaces as objects, pagination,
``dryRun``, schema validation. The on_write hook sees writes made through the HTTP API
only, never the seeding helpers nor ``put``/``remove``, so a hook cannot recurse by itself.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import kubernetes.client
from urllib3 import HTTPHeaderDict

__all__ = ["FakeKubeApi", "FakeResponse", "WriteHook"]

Obj = dict[str, Any]
# (method, plural kind, object as stored after the write; for DELETE, as it was removed;
# EVICT after an eviction's DELETE)
WriteHook = Callable[[str, str, Obj], None]

HOST = "http://fake-kube"
_METADATA_ONLY = "as=PartialObjectMetadata"


@dataclass(frozen=True)
class _Kind:
    prefix: str  # the path every URL of the kind starts with
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/api/").removeprefix("/apis/")

    def resource(self, plural: str) -> str:
        """``pods`` or ``deployments.apps``, as the API server names a kind in its messages."""
        group = self.api_version.rpartition("/")[0]
        return f"{plural}.{group}" if group else plural


KINDS: dict[str, _Kind] = {
    "pods": _Kind("/api/v1", "Pod"),
    "nodes": _Kind("/api/v1", "Node", namespaced=False),
    "configmaps": _Kind("/api/v1", "ConfigMap"),
    "deployments": _Kind("/apis/apps/v1", "Deployment"),
    "replicasets": _Kind("/apis/apps/v1", "ReplicaSet"),
    "networkpolicies": _Kind("/apis/networking.k8s.io/v1", "NetworkPolicy"),
    "horizontalpodautoscalers": _Kind("/apis/autoscaling/v2", "HorizontalPodAutoscaler"),
    "poddisruptionbudgets": _Kind("/apis/policy/v1", "PodDisruptionBudget"),
}
_PLURAL_OF = {k.kind: plural for plural, k in KINDS.items()}
_EVICTION = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/eviction$")
_PATH = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$"
)
# Status reasons that differ from the HTTP phrase with its spaces removed ("Not Found" -> "NotFound").
_REASONS = {410: "Expired", 422: "Invalid", 500: "InternalError", 504: "Timeout"}
_META_V1 = "meta.k8s.io/v1"
_CONTAINERS = [{"name": "main", "image": "registry.invalid/app:1"}]


class FakeResponse:
    """The part of ``urllib3.HTTPResponse`` that the client's ``RESTResponse`` and callers read."""

    def __init__(self, status: int, body: Obj) -> None:
        self.status = status
        self.reason = _phrase(status)
        self.data = json.dumps(body).encode()
        self.headers = HTTPHeaderDict(
            {"Content-Type": "application/json", "Content-Length": str(len(self.data))}
        )
        self._offset = 0

    def getheaders(self) -> HTTPHeaderDict:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        end = len(self.data) if amt is None else self._offset + amt
        chunk, self._offset = self.data[self._offset : end], min(end, len(self.data))
        return chunk

    def json(self) -> Any:
        return json.loads(self.data)

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class _ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.reason = reason or _REASONS.get(status, _phrase(status).replace(" ", ""))

    def body(self) -> Obj:
        return _status("Failure", message=self.message, reason=self.reason, code=self.status)


class _EvictionRefused(_ApiError):
    """429 from a PodDisruptionBudget that allows no disruption, worded as the API server words it."""

    def __init__(self, budget: Obj) -> None:
        super().__init__(
            429, "Cannot evict pod as it would violate the pod's disruption budget.", "TooManyRequests"
        )
        status = budget.get("status") or {}
        self.cause = (
            f"The disruption budget {budget['metadata']['name']} needs {status.get('desiredHealthy', 0)} "
            f"healthy pods and has {status.get('currentHealthy', 0)} currently"
        )

    def body(self) -> Obj:
        return {
            **super().body(),
            "details": {"causes": [{"reason": "DisruptionBudget", "message": self.cause}]},
        }


@dataclass
class _Failure:
    method: str
    path_contains: str
    status: int
    times: int


@dataclass(frozen=True)
class _Route:
    plural: str
    kind: _Kind
    namespace: str | None
    name: str | None


class _FakePoolManager:
    """Stands in for ``urllib3.PoolManager``: every request is answered by the fake."""

    def __init__(self, api: FakeKubeApi) -> None:
        self._api = api

    def request(
        self,
        method: str,
        url: str,
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> FakeResponse:
        """``fields``, ``preload_content``, ``timeout`` and the like arrive in ``kw`` and mean nothing here."""
        return self._api.handle(method, url, body, headers or {})

    def clear(self) -> None:
        pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _status(outcome: str, **fields: Any) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": outcome, **fields}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


def _label_matcher(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """Equality (``a=b``, ``a==b``), ``a!=b``, ``key``, ``!key``, ``key in (x,y)``, ``key notin (x)``."""
    term_re = re.compile(
        r"^\s*(?P<neg>!)?\s*(?P<key>[\w./-]+)"
        r"(?:\s*(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
    )
    terms = [t for t in re.split(r",(?![^()]*\))", selector) if t.strip()]
    parsed = [term_re.match(t) for t in terms]
    for term, m in zip(terms, parsed, strict=True):
        if m is None or (m["neg"] and (m["op"] or m["setop"])):
            raise _ApiError(400, f"unable to parse requirement: {term.strip()!r}")

    def matches(labels: Mapping[str, str]) -> bool:
        for m in parsed:
            assert m is not None
            value = labels.get(m["key"])
            if m["op"]:
                ok = (value != m["value"]) if m["op"] == "!=" else (value == m["value"])
            elif m["setop"]:
                ok = (value in {v.strip() for v in m["values"].split(",")}) == (m["setop"] == "in")
            else:
                ok = (m["key"] in labels) != bool(m["neg"])
            if not ok:
                return False
        return True

    return matches


def _field_matcher(selector: str) -> Callable[[Obj], bool]:
    """``path=value``, ``path==value``, ``path!=value`` over dotted paths such as ``spec.nodeName``."""
    tests = []
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        m = re.fullmatch(r"([\w.]+)(==|=|!=)(.*)", term)
        if m is None:
            raise _ApiError(400, f"invalid field selector: {term!r}")
        tests.append((m[1].split("."), m[2] == "!=", m[3]))

    def field(obj: Obj, path: list[str]) -> str:
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
        return node if isinstance(node, str) else json.dumps(node)

    return lambda obj: all((field(obj, path) == value) != negate for path, negate, value in tests)


class FakeKubeApi:
    """An in-memory API server: seed objects, hand out clients, then assert on state and requests.

    Kinds are named by their plural (``pods``, ``nodes``, ``deployments`` …); ``namespace`` is
    None for cluster-scoped kinds. Objects are plain JSON dicts as the API server stores them,
    and every one returned to a caller is a copy. Safe to use from several threads at once.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._store: dict[str, dict[tuple[str, str], Obj]] = {plural: {} for plural in KINDS}
        self._version = 0
        self._failures: list[_Failure] = []
        self.requests: list[tuple[str, str]] = []
        self.on_write: WriteHook | None = None

    def api_client(self) -> kubernetes.client.ApiClient:
        """A real ``ApiClient`` for ``http://fake-kube`` whose HTTP layer is this fake."""
        client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=HOST))
        client.rest_client.pool_manager = _FakePoolManager(self)  # type: ignore[assignment]  # duck-typed stand-in
        return client

    # --- direct access, for seeding, assertions and on_write hooks (no HTTP, no hook) ---

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            found = self._bucket(kind).get((namespace or "", name))
            return copy.deepcopy(found)

    def objects(self, kind: str) -> list[Obj]:
        with self._lock:
            bucket = self._bucket(kind)
            return [copy.deepcopy(bucket[key]) for key in sorted(bucket)]

    def put(self, kind: str, obj: Obj) -> Obj:
        """Create or overwrite ``obj``, filling in the server-owned metadata; returns the stored copy."""
        with self._lock:
            return self._save(kind, copy.deepcopy(obj))

    def remove(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        """Delete at once (no grace period); the removed object, or None if there was none."""
        with self._lock:
            return self._bucket(kind).pop((namespace or "", name), None)

    def fail_next(self, method: str, path_contains: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose method is ``method`` (``*`` for any) and whose
        path and query contain ``path_contains`` with a ``status`` error; nothing is changed."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), path_contains, status, times))

    # --- seeding helpers ---

    def add_node(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        unschedulable: bool = False,
        taints: list[Obj] | None = None,
    ) -> Obj:
        spec: Obj = {"unschedulable": True} if unschedulable else {}
        if taints:
            spec["taints"] = copy.deepcopy(taints)
        status = {"conditions": [{"type": "Ready", "status": "True"}]}
        return self.put(
            "nodes",
            {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": spec, "status": status},
        )

    def add_pod(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str] | None = None,
        node: str | None = None,
        phase: str = "Running",
        owner: tuple[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        ready: bool = True,
    ) -> Obj:
        """``owner`` is ``(kind, name)``, e.g. ``("ReplicaSet", "web-7d9f")``."""
        meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
        if annotations:
            meta["annotations"] = dict(annotations)
        if owner:
            meta["ownerReferences"] = [self._owner_ref(owner[0], namespace, owner[1])]
        spec: Obj = {"containers": copy.deepcopy(_CONTAINERS)}
        if node:
            spec["nodeName"] = node
        status = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
        return self.put("pods", {"metadata": meta, "spec": spec, "status": status})

    def add_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int,
        labels: Mapping[str, str] | None = None,
        selector: Mapping[str, str] | None = None,
        template_annotations: Mapping[str, str] | None = None,
    ) -> Obj:
        """``selector`` is the matchLabels (default: ``labels``, else ``{"app": name}``);
        the pod template carries exactly those labels."""
        match = dict(selector or labels or {"app": name})
        template_meta: Obj = {"labels": dict(match)}
        if template_annotations:
            template_meta["annotations"] = dict(template_annotations)
        template = {"metadata": template_meta, "spec": {"containers": copy.deepcopy(_CONTAINERS)}}
        counts = {k: replicas for k in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")}
        return self.put(
            "deployments",
            {
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or match)},
                "spec": {"replicas": replicas, "selector": {"matchLabels": match}, "template": template},
                "status": counts,
            },
        )

    def add_replicaset(self, namespace: str, name: str, owner_deployment: str) -> Obj:
        """Owned by ``owner_deployment``, whose selector and template it copies when it exists."""
        deployment = self.get("deployments", namespace, owner_deployment)
        spec = copy.deepcopy(deployment["spec"]) if deployment else {}
        spec.pop("strategy", None)
        spec.setdefault("selector", {"matchLabels": {"app": owner_deployment}})
        meta = {
            "name": name,
            "namespace": namespace,
            "labels": dict(spec["selector"].get("matchLabels") or {}),
            "ownerReferences": [self._owner_ref("Deployment", namespace, owner_deployment)],
        }
        return self.put("replicasets", {"metadata": meta, "spec": spec})

    def add_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> Obj:
        return self.put(
            "configmaps", {"metadata": {"name": name, "namespace": namespace}, "data": dict(data)}
        )

    def add_hpa(
        self,
        namespace: str,
        name: str,
        deployment: str,
        min_replicas: int = 1,
        max_replicas: int = 3,
        current: int = 1,
    ) -> Obj:
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}
        spec = {"scaleTargetRef": target, "minReplicas": min_replicas, "maxReplicas": max_replicas}
        status = {"currentReplicas": current, "desiredReplicas": current}
        meta = {"name": name, "namespace": namespace}
        return self.put("horizontalpodautoscalers", {"metadata": meta, "spec": spec, "status": status})

    def add_pdb(
        self, namespace: str, name: str, selector: Mapping[str, str], min_available: int = 1, healthy: int = 1
    ) -> Obj:
        spec = {"selector": {"matchLabels": dict(selector)}, "minAvailable": min_available}
        status = {
            "currentHealthy": healthy,
            "desiredHealthy": min_available,
            "disruptionsAllowed": max(0, healthy - min_available),
            "expectedPods": healthy,
        }
        meta = {"name": name, "namespace": namespace}
        return self.put("poddisruptionbudgets", {"metadata": meta, "spec": spec, "status": status})

    # --- the HTTP side ---

    def handle(
        self, method: str, url: str, body: str | bytes | None, headers: Mapping[str, str]
    ) -> FakeResponse:
        """Answer one request as the API server would; what the fake pool manager calls."""
        method = method.upper()
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append((method, parts.path))
            try:
                self._inject_failure(method, parts.path + (f"?{parts.query}" if parts.query else ""))
                eviction = _EVICTION.match(parts.path)
                if eviction is not None and method == "POST":
                    status, answer = self._evict(unquote(eviction["ns"]), unquote(eviction["name"]), body)
                else:
                    status, answer = self._serve(method, self._route(parts.path), query, body, lower)
            except _ApiError as e:
                return FakeResponse(e.status, e.body())
            return FakeResponse(status, answer)

    def _serve(
        self,
        method: str,
        route: _Route,
        query: Mapping[str, str],
        body: str | bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Obj]:
        metadata_only = _METADATA_ONLY in headers.get("accept", "")
        if method == "GET" and route.name is None:
            return 200, self._list(route, query, metadata_only)
        if method == "POST" and route.name is None and (route.namespace or not route.kind.namespaced):
            return 201, self._create(route, self._json_body(body))
        if route.name is None or method not in ("GET", "PUT", "PATCH", "DELETE"):
            raise _ApiError(
                405, f"the server does not allow this method on the requested resource ({method})"
            )
        current = self._bucket(route.plural).get((route.namespace or "", route.name))
        if current is None:
            raise _ApiError(404, f'{route.kind.resource(route.plural)} "{route.name}" not found')
        if method == "GET":
            return 200, self._partial(current) if metadata_only else copy.deepcopy(current)
        if method == "DELETE":
            return 200, self._delete(route, current, self._json_body(body) if body else {}, query)
        if method == "PATCH":
            content_type = headers.get("content-type", "")
            if not content_type.startswith(
                ("application/strategic-merge-patch+json", "application/merge-patch+json")
            ):
                raise _ApiError(415, f"the fake supports merge patches only, not {content_type!r}")
            patch = self._json_body(body)
            self._check_version(route, current, patch)
            return 200, self._write("PATCH", route, current, _merge_patch(current, patch))
        replacement = self._json_body(body)
        if (replacement.get("metadata") or {}).get("name") != route.name:
            raise _ApiError(400, "the name of the object does not match the name on the URL")
        self._check_version(route, current, replacement)
        return 200, self._write("PUT", route, current, replacement)

    def _evict(self, namespace: str, name: str, body: str | bytes | None) -> tuple[int, Obj]:
        eviction = self._json_body(body)
        if eviction.get("kind") != "Eviction" or eviction.get("apiVersion") != "policy/v1":
            raise _ApiError(400, "the body must be a policy/v1 Eviction")
        if (eviction.get("metadata") or {}).get("name") != name:
            raise _ApiError(400, "name in URL does not match name in Eviction object")
        pod = self._bucket("pods").get((namespace, name))
        if pod is None:
            raise _ApiError(404, f'pods "{name}" not found')
        labels = pod["metadata"].get("labels") or {}
        budgets = [
            b
            for b in self._bucket("poddisruptionbudgets").values()
            if b["metadata"]["namespace"] == namespace
            and _label_matcher(
                ",".join(
                    f"{k}={v}"
                    for k, v in ((b["spec"].get("selector") or {}).get("matchLabels") or {}).items()
                )
            )(labels)
        ]
        if len(budgets) > 1:
            raise _ApiError(
                500,
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            )
        if budgets:
            budget = budgets[0]
            status = budget.setdefault("status", {})
            allowed = int(status.get("disruptionsAllowed", 0))
            if allowed <= 0:
                raise _EvictionRefused(budget)
            status["disruptionsAllowed"] = allowed - 1
            self._save("poddisruptionbudgets", budget)
        route = _Route("pods", KINDS["pods"], namespace, name)
        deleted = self._delete(route, pod, dict(eviction.get("deleteOptions") or {}), {})
        self._notify("EVICT", "pods", deleted)
        return 201, _status("Success", code=201)

    def _list(self, route: _Route, query: Mapping[str, str], metadata_only: bool) -> Obj:
        labels = _label_matcher(query.get("labelSelector", ""))
        fields = _field_matcher(query.get("fieldSelector", ""))
        bucket = self._bucket(route.plural)
        chosen = [
            bucket[key]
            for key in sorted(bucket)
            if route.namespace in (None, key[0])
            and labels(bucket[key]["metadata"].get("labels") or {})
            and fields(bucket[key])
        ]
        if metadata_only:
            kind, api_version, items = (
                "PartialObjectMetadataList",
                _META_V1,
                [self._partial(o) for o in chosen],
            )
        else:  # the API server leaves kind and apiVersion out of list items
            kind, api_version = f"{route.kind.kind}List", route.kind.api_version
            items = [
                {k: copy.deepcopy(v) for k, v in o.items() if k not in ("kind", "apiVersion")} for o in chosen
            ]
        version = {"resourceVersion": str(self._version)}
        return {"kind": kind, "apiVersion": api_version, "metadata": version, "items": items}

    def _create(self, route: _Route, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise _ApiError(422, "metadata.name: Required value: name or generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if route.namespace is not None:
            if meta.get("namespace", route.namespace) != route.namespace:
                raise _ApiError(400, "the namespace of the object does not match the namespace on the URL")
            meta["namespace"] = route.namespace
        if (route.namespace or "", meta["name"]) in self._bucket(route.plural):
            resource = route.kind.resource(route.plural)
            raise _ApiError(409, f'{resource} "{meta["name"]}" already exists', reason="AlreadyExists")
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            meta.pop(key, None)
        stored = self._save(route.plural, obj)
        self._notify("POST", route.plural, stored)
        return stored

    def _delete(self, route: _Route, current: Obj, options: Obj, query: Mapping[str, str]) -> Obj:
        meta = current["metadata"]
        wanted = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            if wanted.get(field) and wanted[field] != meta.get(field):
                raise _ApiError(
                    409,
                    f"Precondition failed: {field} in precondition: {wanted[field]}, {field} in object meta: {meta.get(field)}",
                )
        grace = options.get("gracePeriodSeconds")
        if grace is None and "gracePeriodSeconds" in query:
            grace = int(query["gracePeriodSeconds"])
        if route.plural == "pods":
            if grace is None:
                grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            if grace > 0:
                terminating = copy.deepcopy(current)
                terminating["metadata"].setdefault("deletionTimestamp", _now())
                terminating["metadata"]["deletionGracePeriodSeconds"] = grace
                return self._write("DELETE", route, current, terminating)
        removed = self._bucket(route.plural).pop((route.namespace or "", route.name or ""))
        self._notify("DELETE", route.plural, removed)
        if route.plural == "pods":
            return copy.deepcopy(removed)
        return _status("Success", details={"name": route.name, "kind": route.plural, "uid": meta["uid"]})

    def _write(self, method: str, route: _Route, current: Obj, new: Obj) -> Obj:
        """Store ``new`` in place of ``current``, keeping what a client may not change: identity,
        deletion state and (as the API server does outside the status subresource) the status."""
        meta = new["metadata"] = dict(new.get("metadata") or {})
        protected = ["name", "namespace", "uid", "creationTimestamp"]
        if method != "DELETE":
            protected += ["deletionTimestamp", "deletionGracePeriodSeconds"]
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
        for key in protected:
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
            else:
                meta.pop(key, None)
        stored = self._save(route.plural, new)
        self._notify(method, route.plural, stored)
        return stored

    # --- internals ---

    def _save(self, plural: str, obj: Obj) -> Obj:
        kind = KINDS[plural]
        obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        self._version += 1
        meta["resourceVersion"] = str(self._version)
        self._bucket(plural)[(meta.get("namespace", ""), meta["name"])] = obj
        return copy.deepcopy(obj)

    def _notify(self, method: str, plural: str, obj: Obj) -> None:
        if self.on_write is not None:
            self.on_write(method, plural, copy.deepcopy(obj))

    def _bucket(self, kind: str) -> dict[tuple[str, str], Obj]:
        if kind not in self._store:
            raise KeyError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        return self._store[kind]

    def _owner_ref(self, kind: str, namespace: str, name: str) -> Obj:
        plural = _PLURAL_OF.get(kind)
        owner = self.get(plural, namespace, name) if plural else None
        api_version = KINDS[plural].api_version if plural else "apps/v1"
        uid = owner["metadata"]["uid"] if owner else str(uuid.uuid4())
        return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}

    def _inject_failure(self, method: str, target: str) -> None:
        for failure in self._failures:
            if failure.times > 0 and failure.method in ("*", method) and failure.path_contains in target:
                failure.times -= 1
                raise _ApiError(failure.status, f"injected failure for {method} {target}")

    @staticmethod
    def _route(path: str) -> _Route:
        m = _PATH.match(path)
        plural = unquote(m["plural"]) if m else ""
        kind = KINDS.get(plural)
        if m is None or kind is None or kind.prefix != m["prefix"]:
            raise _ApiError(404, "the server could not find the requested resource")
        namespace = unquote(m["ns"]) if m["ns"] else None
        name = unquote(m["name"]) if m["name"] else None
        # A namespaced kind has no single objects outside a namespace, only a list across all of them.
        if (namespace is not None) != kind.namespaced and not (namespace is None and name is None):
            raise _ApiError(404, "the server could not find the requested resource")
        return _Route(plural, kind, namespace, name)

    @staticmethod
    def _check_version(route: _Route, current: Obj, incoming: Obj) -> None:
        wanted = (incoming.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise _ApiError(
                409,
                f'Operation cannot be fulfilled on {route.kind.resource(route.plural)} "{route.name}": '
                "the object has been modified; please apply your changes to the latest version and try again",
            )

    @staticmethod
    def _json_body(body: str | bytes | None) -> Obj:
        try:
            parsed = json.loads(body or "null")
        except ValueError as e:
            raise _ApiError(400, f"the request body is not JSON: {e}") from e
        if not isinstance(parsed, dict):
            raise _ApiError(
                415 if isinstance(parsed, list) else 400, "the request body must be a JSON object"
            )
        return parsed

    @staticmethod
    def _partial(obj: Obj) -> Obj:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": _META_V1,
            "metadata": copy.deepcopy(obj["metadata"]),
        }
