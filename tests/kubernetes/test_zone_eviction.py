"""The Kubernetes zone outage against the real control plane: it cordons and NoSchedule-taints
the zone, evicts only the allowed namespaces' pods through the Eviction API (a pod of another
namespace on the same node stays), and a PodDisruptionBudget that allows no disruption makes
it fail clearly within its bound and be undone."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, wait_ready, zone_with_pods

from actions import zones
from chaosdrill.drivers.kube import reads as kube
from chaosdrill.errors import FaultNotApplied
from chaosdrill.faults.kinds.zones import OUTAGE_TAINT
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]

SUFFIX = uuid.uuid4().hex[:6]  # a namespace deleted by an earlier test may still be terminating
OTHER = f"chaosdrill-bystander-{SUFFIX}"  # never in the experiment's allowlist
GUARDED = f"chaosdrill-guarded-{SUFFIX}"  # allowed, with a budget that allows no disruption


def _pod(namespace: str, name: str, node: str) -> dict[str, Any]:
    """A bare pod bound to ``node`` (kwok runs it): nothing would replace it once evicted."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "registry.invalid/app:1"}]},
    }


def _apply(kc: Cluster, *items: dict[str, Any]) -> None:
    kc.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})
    )


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _running(kc: Cluster, namespace: str, name: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        pod: dict[str, Any] = kc.kubectl_json("get", "pod", name, "-n", namespace)
        if pod.get("status", {}).get("phase") == "Running" or time.monotonic() > deadline:
            return pod
        time.sleep(0.5)


def _live_on(kc: Cluster, namespace: str, nodes: list[str]) -> list[str]:
    pods = kc.kubectl_json("get", "pods", "-n", namespace)["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if p["spec"].get("nodeName") in nodes and not p["metadata"].get("deletionTimestamp")
    ]


@pytest.fixture(scope="module")
def namespaces(reference_service: Cluster) -> Iterator[None]:
    _apply(reference_service, _namespace(OTHER), _namespace(GUARDED))
    try:
        yield
    finally:
        reference_service.kubectl("delete", "namespace", OTHER, GUARDED, "--wait=false")


def test_zone_outage_evicts_only_the_allowed_namespace_through_the_eviction_api(
    service: Cluster, namespaces: None
) -> None:
    kc = service
    conf = kc.configuration()  # chaosdrill_allow_namespaces: [llm]
    zone = zone_with_pods(kc, "dc1")
    nodes = kube.zone_nodes(zone, conf)
    _apply(kc, _pod(OTHER, "bystander", nodes[0]))
    bystander = _running(kc, OTHER, "bystander")
    assert bystander["status"]["phase"] == "Running"
    ours_before = _live_on(kc, NAMESPACE, nodes)
    assert ours_before, f"no llm pod on {zone}"
    try:
        result = zones.zone_outage(zone, 120, configuration=conf)
        assert result["nodes"] == nodes and result["namespaces"] == [NAMESPACE]
        assert result["evicted"] >= len(ours_before)  # a budget's 429s were retried, not skipped
        for name in nodes:
            node = kc.kubectl_json("get", "node", name)
            assert node["spec"].get("unschedulable") is True
            effects = [t["effect"] for t in node["spec"].get("taints") or [] if t["key"] == OUTAGE_TAINT]
            assert effects == ["NoSchedule"]
        assert _live_on(kc, NAMESPACE, nodes) == []
        after = kc.kubectl_json("get", "pod", "bystander", "-n", OTHER)
        assert after["metadata"]["uid"] == bystander["metadata"]["uid"]  # the very same pod
        assert not after["metadata"].get("deletionTimestamp") and after["spec"]["nodeName"] == nodes[0]
        wait_ready(kc, "app=llm-api", SERVICE_PODS)  # rescheduled in the DC's other zone
        budgets = kc.kubectl_json("get", "pdb", "-n", NAMESPACE)["items"]
        assert budgets and all(
            b["status"]["currentHealthy"] >= b["status"]["desiredHealthy"] for b in budgets
        )
    finally:
        back = zones.zone_outage_rollback(zone, configuration=conf)
    assert back["ledger_entries_closed"] == 1
    for name in nodes:
        node = kc.kubectl_json("get", "node", name)
        assert not node["spec"].get("unschedulable")
        assert OUTAGE_TAINT not in [t["key"] for t in node["spec"].get("taints") or []]
    wait_ready(kc, "app=llm-api", SERVICE_PODS)


def test_zone_outage_a_budget_blocks_fails_within_its_bound_and_is_undone(
    service: Cluster, namespaces: None
) -> None:
    kc = service
    conf = kc.configuration(chaosdrill_allow_namespaces=[NAMESPACE, GUARDED])
    zone = "dc3-az-b"
    nodes = kube.zone_nodes(zone, conf)
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "keep-guarded", "namespace": GUARDED},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    _apply(kc, _pod(GUARDED, "guarded", nodes[0]), budget)
    assert _running(kc, GUARDED, "guarded")["status"]["phase"] == "Running"
    before = {n: bool(kc.kubectl_json("get", "node", n)["spec"].get("unschedulable")) for n in nodes}
    started = time.monotonic()
    with pytest.raises(FaultNotApplied) as caught:
        zones.zone_outage(zone, 4, namespaces=[GUARDED], configuration=conf)
    took = time.monotonic() - started
    message = str(caught.value)
    assert f"{GUARDED}/guarded" in message and "PodDisruptionBudgets refused their eviction" in message
    assert took < 30, took  # the bound holds: 4 s of retries, then undo
    assert _live_on(kc, GUARDED, nodes) == ["guarded"]  # the budget held
    for name in nodes:  # undone
        node = kc.kubectl_json("get", "node", name)
        assert bool(node["spec"].get("unschedulable")) == before[name]
        assert OUTAGE_TAINT not in [t["key"] for t in node["spec"].get("taints") or []]
    [record] = default_ledger().history()
    assert record.how == "injection-failed"
