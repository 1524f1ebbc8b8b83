"""Helpers shared by the Kubernetes tests (kept out of conftest so test modules can import them)."""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.drivers.kube.marks import MARK_PREFIX
from chaosdrill.faults.kinds.zones import OUTAGE_TAINT, PARTITION_LABEL
from chaosdrill.kube import cluster

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "llm"
SERVICE_PODS = 9  # 3 DCs x HPA minimum 3


@dataclass(frozen=True)
class Cluster:
    home: Path
    kubeconfig: Path
    context: str

    def configuration(self, **more: Any) -> dict[str, Any]:
        return {
            "chaosdrill_target": "kubernetes",
            "kube_context": self.context,
            "kubeconfig": str(self.kubeconfig),
            "chaosdrill_allow_namespaces": [NAMESPACE],
            **more,
        }

    def env(self) -> dict[str, str]:
        return dict(os.environ, CHAOSDRILL_HOME=str(self.home), KUBECONFIG=str(self.kubeconfig))

    def kubectl_json(self, *args: str) -> Any:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CHAOSDRILL_HOME", str(self.home))
            return json.loads(cluster.kubectl([*args, "-o", "json"]))

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CHAOSDRILL_HOME", str(self.home))
            return cluster.kubectl(list(args), stdin=stdin)


def wait_ready(kc: Cluster, selector: str, want: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    ready = 0
    while time.monotonic() < deadline:
        deps = kc.kubectl_json("get", "deployments", "-n", NAMESPACE, "-l", selector)["items"]
        ready = sum(int(d.get("status", {}).get("readyReplicas") or 0) for d in deps)
        if ready >= want:
            return
        time.sleep(1)
    raise AssertionError(f"{selector}: only {ready} of {want} replicas ready after {timeout_s}s")


def zone_with_pods(kc: Cluster, dc: str) -> str:
    """A zone of ``dc`` where the reference service has a live pod now.

    Earlier tests move pods around (a zone outage reschedules them into the other zone,
    and nothing moves them back), so a partition must pick a zone that has some.
    """
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in kc.kubectl_json("get", "nodes")["items"]}
    pods = kc.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", f"app=llm-api,chaosdrill.io/datacenter={dc}")
    zones = sorted(
        nodes[p["spec"]["nodeName"]]["topology.kubernetes.io/zone"]
        for p in pods["items"]
        if p["spec"].get("nodeName") in nodes and not p["metadata"].get("deletionTimestamp")
    )
    assert zones, f"no live pod of {dc}"
    return zones[0]


def marked_objects(kc: Cluster) -> list[str]:
    """Every object anywhere that still carries a chaosdrill fault label."""
    found = []
    for kind in ("nodes", "networkpolicies", "deployments", "configmaps", "pods"):
        for item in kc.kubectl_json("get", kind, "-A")["items"]:
            labels = item["metadata"].get("labels") or {}
            annotations = item["metadata"].get("annotations") or {}
            if any(k.startswith(MARK_PREFIX) for k in [*labels, *annotations]):
                found.append(f"{kind}/{item['metadata']['name']}")
    return found


def snapshot(kc: Cluster) -> dict[str, Any]:
    """Everything a chaosdrill fault changes on the reference service, to compare after recovery."""
    deps = kc.kubectl_json("get", "deployments", "-n", NAMESPACE)["items"]
    return {
        "cordoned": [
            n["metadata"]["name"]
            for n in kc.kubectl_json("get", "nodes")["items"]
            if n["spec"].get("unschedulable")
        ],
        "tainted": [
            n["metadata"]["name"]
            for n in kc.kubectl_json("get", "nodes")["items"]
            if any(t["key"] == OUTAGE_TAINT for t in n["spec"].get("taints") or [])
        ],
        "policies": [p["metadata"]["name"] for p in kc.kubectl_json("get", "networkpolicies", "-A")["items"]],
        "replicas": {d["metadata"]["name"]: d["spec"]["replicas"] for d in deps},
        "templates": {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"] for d in deps},
        "routing": kc.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"],
        "partition_labels": len(kc.kubectl_json("get", "pods", "-A", "-l", PARTITION_LABEL)["items"]),
    }
