"""Shared ground for the Kubernetes fault kind tests: a small seeded cluster in the fake API
server, drivers that hand the fault code clients on it, controllers played by a write hook,
and readers that turn the fake's stored objects into what the tests compare.

The cluster: two DCs (``dc1``, ``dc2``), two zones each (``dc1-az-a`` ...), two nodes per zone
labelled with their zone and DC. ``dc1-az-a-1`` is already cordoned and carries a foreign
taint, so an undo must give back exactly what was there, not a clean node. In namespace
``llm``, Deployments ``llm-api-dc1`` and ``llm-api-dc2`` each own a ReplicaSet and one pod
per node of their DC; the routing ConfigMap ``llm-routing`` maps three cells to DCs. Two
bystanders share ``dc1-az-a-0``: a batch pod in namespace ``batch`` and a DaemonSet pod in
``monitoring`` (which no eviction or zone fault should wait for).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.kube_api import FakeKubeApi

from chaosdrill import watchdog
from chaosdrill.drivers.kube.client import DC_LABEL, ZONE_LABEL, KubeTarget
from chaosdrill.drivers.kube.guards import allowed_namespaces
from chaosdrill.drivers.kube.marks import MARK_PREFIX, Mark, mark_key, read_mark
from chaosdrill.faults import engine
from chaosdrill.faults.kind import Plan
from chaosdrill.faults.kinds.surge import USAGE_CPU
from chaosdrill.ledger import FaultRecord, Ledger

__all__ = [
    "CONF",
    "CONTEXT",
    "DCS",
    "FOREIGN_TAINT",
    "KUBECONFIG",
    "NAMESPACE",
    "ROUTING",
    "Cluster",
    "Controllers",
    "FakeDrivers",
    "conf",
    "deployment_view",
    "make_cluster",
    "mark_on",
    "marked",
    "node_view",
    "nodes_of_zone",
    "pod_names",
    "pod_view",
    "records",
    "seed_cluster",
    "stub_watchdog",
    "writes",
]

NAMESPACE = "llm"
CONTEXT = "fake-ctx"
KUBECONFIG = "fake-kubeconfig"
DCS = ("dc1", "dc2")
AZS = ("az-a", "az-b")
ROUTING = {"cell-0": "dc1", "cell-1": "dc2", "cell-2": "dc1"}
FOREIGN_TAINT = {"key": "example.com/maintenance", "value": "disk", "effect": "NoSchedule"}
CORDONED = "dc1-az-a-1"  # cordoned before any fault, with FOREIGN_TAINT
RS_HASH = {"dc1": "5d8f7c", "dc2": "6b9e1a"}

CONF: dict[str, Any] = {
    "chaosdrill_target": "kubernetes",
    "kube_context": CONTEXT,
    "chaosdrill_allow_namespaces": [NAMESPACE],
}


def conf(**extra: Any) -> dict[str, Any]:
    """The experiment's configuration, with ``extra`` settings on top."""
    return {**CONF, **extra}


class FakeDrivers:
    """The fault engine's drivers, every Kubernetes client on one fake API server.

    ``kube`` applies the configuration's namespace allowlist as the real ``connect`` does;
    ``kube_at`` has none, as ``connect_at`` has none, and records what it was asked for.
    Anything else a Kubernetes kind has no business calling fails the test.
    """

    def __init__(self, fake: FakeKubeApi) -> None:
        self.fake = fake
        self.api = fake.api_client()
        self.kube_calls: list[str] = []  # the kube_context of each kube(configuration)
        self.kube_at_calls: list[tuple[str | None, str]] = []

    def kube(self, configuration: Mapping[str, Any]) -> KubeTarget:
        self.kube_calls.append(str(configuration["kube_context"]))
        return KubeTarget(
            KUBECONFIG, str(configuration["kube_context"]), allowed_namespaces(configuration), self.api
        )

    def kube_at(self, kubeconfig: str | None, context: str) -> KubeTarget:
        self.kube_at_calls.append((kubeconfig, context))
        return KubeTarget(kubeconfig or KUBECONFIG, context, None, self.api)

    def sandbox(self) -> Any:
        raise AssertionError("a Kubernetes fault asked for the sandbox")

    def sandbox_instance(self, instance: str) -> Any:
        raise AssertionError("a Kubernetes fault asked for a sandbox instance")

    def load(self) -> Any:
        raise AssertionError("a Kubernetes fault asked for the load worker")

    def load_streams(self) -> Any:
        raise AssertionError("a Kubernetes fault asked for the load streams")


@dataclass
class Seeded:
    """What :func:`seed_cluster` put in the fake, by name."""

    nodes: dict[str, list[str]] = field(default_factory=dict)  # zone -> node names
    pods: dict[str, list[str]] = field(default_factory=dict)  # dc -> pod names in NAMESPACE


def nodes_of_zone(zone: str) -> list[str]:
    return [f"{zone}-{i}" for i in range(2)]


def seed_cluster(fake: FakeKubeApi) -> Seeded:
    seeded = Seeded()
    for dc in DCS:
        for az in AZS:
            zone = f"{dc}-{az}"
            seeded.nodes[zone] = nodes_of_zone(zone)
            for node in seeded.nodes[zone]:
                labels = {ZONE_LABEL: zone, DC_LABEL: dc, "kubernetes.io/hostname": node}
                if node == CORDONED:
                    fake.add_node(node, labels, unschedulable=True, taints=[dict(FOREIGN_TAINT)])
                else:
                    fake.add_node(node, labels)
    for dc in DCS:
        deployment, rs = f"llm-api-{dc}", f"llm-api-{dc}-{RS_HASH[dc]}"
        labels = {"app": "llm-api", DC_LABEL: dc}
        template = {USAGE_CPU: "100m"} if dc == "dc1" else None  # dc2's template has none
        fake.add_deployment(NAMESPACE, deployment, 4, labels=labels, template_annotations=template)
        fake.add_replicaset(NAMESPACE, rs, deployment)
        nodes = [n for az in AZS for n in seeded.nodes[f"{dc}-{az}"]]
        seeded.pods[dc] = []
        for i, node in enumerate(nodes):
            name = f"{rs}-p{i}"
            # dc1: one pod runs hotter than its template says; dc2's pods have no usage at all.
            usage = ("250m" if i == 0 else "100m") if dc == "dc1" else None
            fake.add_pod(
                NAMESPACE,
                name,
                labels={**labels, "pod-template-hash": RS_HASH[dc]},
                node=node,
                owner=("ReplicaSet", rs),
                annotations={USAGE_CPU: usage} if usage else None,
            )
            seeded.pods[dc].append(name)
    fake.add_configmap(NAMESPACE, "llm-routing", ROUTING)
    fake.add_pod("batch", "batch-job-0", labels={"app": "batch"}, node="dc1-az-a-0")
    fake.add_pod(
        "monitoring",
        "node-exporter-x1",
        labels={"app": "node-exporter"},
        node="dc1-az-a-0",
        owner=("DaemonSet", "node-exporter"),
    )
    return seeded


class Controllers:
    """The controllers the fake lacks, as its ``on_write`` hook.

    ``evict``: a node written with a NoExecute taint loses its pods at once (DaemonSet pods
    tolerate it and stay), as the taint manager does; a pod evicted through the Eviction API
    finishes terminating at once, as a kubelet would. ``scale``: a Deployment written with
    ``replicas: 0`` loses every pod its selector matches. Each can be turned off to play a
    controller that is too slow (an evicted pod then stays terminating).
    """

    def __init__(self, fake: FakeKubeApi, *, evict: bool = True, scale: bool = True) -> None:
        self.fake, self.evict, self.scale = fake, evict, scale
        self.evicted: list[str] = []
        self.scaled_down: list[str] = []

    def __call__(self, method: str, plural: str, obj: dict[str, Any]) -> None:
        if method == "EVICT":
            self.evicted.append(obj["metadata"]["name"])
            if self.evict:
                self.fake.remove("pods", obj["metadata"]["namespace"], obj["metadata"]["name"])
            return
        if method not in ("PATCH", "PUT"):
            return
        if plural == "nodes" and self.evict:
            taints = (obj.get("spec") or {}).get("taints") or []
            if any(t.get("effect") == "NoExecute" for t in taints):
                self._evict(obj["metadata"]["name"])
        if plural == "deployments" and self.scale and (obj.get("spec") or {}).get("replicas") == 0:
            self._scale_down(obj)

    def _evict(self, node: str) -> None:
        for pod in self.fake.objects("pods"):
            owners = {o.get("kind") for o in pod["metadata"].get("ownerReferences") or []}
            if (pod.get("spec") or {}).get("nodeName") == node and "DaemonSet" not in owners:
                self.fake.remove("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                self.evicted.append(pod["metadata"]["name"])

    def _scale_down(self, deployment: dict[str, Any]) -> None:
        namespace = deployment["metadata"]["namespace"]
        match = deployment["spec"]["selector"]["matchLabels"]
        for pod in self.fake.objects("pods"):
            labels = pod["metadata"].get("labels") or {}
            if pod["metadata"]["namespace"] == namespace and all(
                labels.get(k) == v for k, v in match.items()
            ):
                self.fake.remove("pods", namespace, pod["metadata"]["name"])
                self.scaled_down.append(pod["metadata"]["name"])


# --------------------------------------------------------------------------- reading the fake


def writes(fake: FakeKubeApi, since: int = 0) -> list[tuple[str, str]]:
    """Every request after the first ``since`` that was not a read."""
    return [(method, path) for method, path in fake.requests[since:] if method != "GET"]


def _all_objects(fake: FakeKubeApi) -> Iterator[tuple[str, dict[str, Any]]]:
    for plural in ("nodes", "pods", "deployments", "replicasets", "configmaps", "networkpolicies"):
        for obj in fake.objects(plural):
            yield plural, obj


def marked(fake: FakeKubeApi) -> list[tuple[str, str, str, str]]:
    """(plural, namespace, name, label or annotation key) of every fault mark on the cluster."""
    found = []
    for plural, obj in _all_objects(fake):
        meta = obj["metadata"]
        for part in ("labels", "annotations"):
            for key in meta.get(part) or {}:
                if key.startswith(MARK_PREFIX):
                    found.append((plural, meta.get("namespace", ""), meta["name"], f"{part}:{key}"))
    return sorted(found)


def node_view(fake: FakeKubeApi, name: str) -> dict[str, Any]:
    """A node's schedulability, taints, labels and annotations, absent and empty read alike
    (the API server omits ``unschedulable: false`` and empty lists)."""
    node = fake.get("nodes", None, name)
    assert node is not None, f"node {name} is gone"
    spec, meta = node.get("spec") or {}, node["metadata"]
    taints = [{k: v for k, v in t.items() if v is not None} for t in spec.get("taints") or []]
    return {
        "unschedulable": bool(spec.get("unschedulable")),
        "taints": taints,
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
    }


def deployment_view(fake: FakeKubeApi, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    dep = fake.get("deployments", namespace, name)
    assert dep is not None, f"deployment {namespace}/{name} is gone"
    meta, spec = dep["metadata"], dep["spec"]
    return {
        "replicas": spec.get("replicas"),
        "template_annotations": dict((spec["template"].get("metadata") or {}).get("annotations") or {}),
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
    }


def pod_view(fake: FakeKubeApi, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    pod = fake.get("pods", namespace, name)
    assert pod is not None, f"pod {namespace}/{name} is gone"
    meta = pod["metadata"]
    return {"labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}


def pod_names(fake: FakeKubeApi, namespace: str | None = None) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in fake.objects("pods")
        if namespace is None or p["metadata"]["namespace"] == namespace
    )


def records(ledger: Ledger) -> list[FaultRecord]:
    """The ledger as a fresh reader sees it on disk."""
    return Ledger(ledger.path).history()


def mark_on(fake: FakeKubeApi, plural: str, namespace: str | None, name: str, kind: str) -> Mark | None:
    """The ``kind`` mark on a stored object, read as the sweep reads it; None if unmarked.

    Also checks the label half of the mark names the same fault as the annotation.
    """
    obj = fake.get(plural, namespace, name)
    assert obj is not None, f"{plural} {namespace}/{name} is gone"
    mark = read_mark(kind, obj["metadata"])
    if mark is not None:
        assert (obj["metadata"].get("labels") or {}).get(mark_key(kind)) == mark.fault_id
    return mark


# --------------------------------------------------------------------------- the whole bench


@dataclass
class Cluster:
    """The seeded fake, its controllers, drivers on it and a private ledger, with the
    engine's entry points bound to them."""

    fake: FakeKubeApi
    drivers: FakeDrivers
    ledger: Ledger
    seeded: Seeded
    controllers: Controllers

    def plan(self, name: str, args: Mapping[str, Any], configuration: Mapping[str, Any] = CONF) -> Plan:
        return engine.plan(name, configuration, args, drivers=self.drivers)

    def inject(
        self, name: str, args: Mapping[str, Any], configuration: Mapping[str, Any] = CONF
    ) -> dict[str, Any]:
        return engine.inject(name, configuration, args, drivers=self.drivers, ledger=self.ledger)

    def remove(
        self, name: str, args: Mapping[str, Any], configuration: Mapping[str, Any] = CONF
    ) -> dict[str, Any]:
        return engine.remove(name, configuration, args, drivers=self.drivers, ledger=self.ledger)

    def record(self) -> FaultRecord:
        """The one fault in the ledger."""
        [only] = records(self.ledger)
        return only


def make_cluster(tmp_path: Path) -> Cluster:
    fake = FakeKubeApi()
    seeded = seed_cluster(fake)
    controllers = Controllers(fake)
    fake.on_write = controllers
    return Cluster(fake, FakeDrivers(fake), Ledger(tmp_path / "ledger.jsonl"), seeded, controllers)


def stub_watchdog(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    """Keep ``inject(ttl_s=...)`` from starting a real watchdog process; returns the ledger
    paths it was asked to watch. (``chaosdrill.faults.engine.watchdog`` is this module.)"""
    started: list[Path | None] = []

    def ensure_running(ledger_path: Path | None = None) -> bool:
        started.append(ledger_path)
        return True

    assert engine.watchdog is watchdog  # type: ignore[attr-defined]
    monkeypatch.setattr(watchdog, "ensure_running", ensure_running)
    return started
