"""The Kubernetes driver against the real local control plane: faults, their undo, bad input."""

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, wait_ready, zone_with_pods

from chaosdrill import targets
from chaosdrill.errors import BadInput
from chaosdrill.ledger import default_ledger
from chaosdrill.targets import kubernetes as kube

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]

DC1 = "app=llm-api,chaosdrill.io/datacenter=dc1"


def _pods(kc: Cluster, selector: str) -> list[dict[str, Any]]:
    items = kc.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def _node(kc: Cluster, name: str) -> dict[str, Any]:
    node: dict[str, Any] = kc.kubectl_json("get", "node", name)
    return node


# ------------------------------------------------------------------ configuration checks


def test_missing_context_is_bad_input(service: Cluster) -> None:
    conf = service.configuration()
    del conf["kube_context"]
    with pytest.raises(BadInput, match="kube_context"):
        kube.kill_pods(DC1, NAMESPACE, 1, None, 0, conf)


def test_unknown_context_is_bad_input_and_names_the_known_ones(service: Cluster) -> None:
    with pytest.raises(BadInput, match=r"no-such-context.*kwok-chaosdrill"):
        kube.kill_pods(DC1, NAMESPACE, 1, None, 0, service.configuration(kube_context="no-such-context"))


def test_missing_kubeconfig_is_bad_input(service: Cluster, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        kube.kill_pods(DC1, NAMESPACE, 1, None, 0, service.configuration(kubeconfig=str(tmp_path / "nope")))


def test_production_context_needs_an_explicit_opt_in(service: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(service.kubeconfig.read_text())
    config["contexts"].append({"name": "kwok-prod", "context": dict(config["contexts"][0]["context"])})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    conf = service.configuration(kube_context="kwok-prod", kubeconfig=str(kubeconfig))
    with pytest.raises(BadInput, match="production"):
        kube.deployments(NAMESPACE, DC1, conf)
    allowed = kube.deployments(NAMESPACE, DC1, {**conf, "chaosdrill_allow_production": True})
    assert [d.name for d in allowed] == ["llm-api-dc1"]


def test_namespace_outside_the_allow_list_is_refused(service: Cluster) -> None:
    with pytest.raises(BadInput, match="chaosdrill_allow_namespaces"):
        kube.kill_pods("app=llm-api", "default", 1, None, 0, service.configuration())


@pytest.mark.parametrize(
    ("count", "percentage", "match"),
    [(-1, None, "count"), (None, 150.0, "percentage"), (None, -5.0, "percentage"), (1, 50.0, "not both")],
)
def test_bad_amounts_are_rejected_before_touching_anything(
    service: Cluster, count: int | None, percentage: float | None, match: str
) -> None:
    before = {p["metadata"]["uid"] for p in _pods(service, DC1)}
    with pytest.raises(BadInput, match=match):
        kube.kill_pods(DC1, NAMESPACE, count, percentage, 0, service.configuration())
    assert {p["metadata"]["uid"] for p in _pods(service, DC1)} == before
    assert default_ledger().replay() == []


def test_kill_beyond_the_blast_radius_cap_deletes_nothing(service: Cluster) -> None:
    before = {p["metadata"]["uid"] for p in _pods(service, DC1)}
    conf = service.configuration(chaosdrill_max_percentage=50)
    with pytest.raises(ActivityFailed, match="blast radius"):
        kube.kill_pods(DC1, NAMESPACE, None, 100.0, 0, conf)
    with pytest.raises(ActivityFailed, match="blast radius"):
        kube.kill_pods(DC1, NAMESPACE, len(before), None, 0, conf)
    assert {p["metadata"]["uid"] for p in _pods(service, DC1)} == before
    assert default_ledger().replay() == []


def test_selector_matching_nothing_fails_and_records_nothing(service: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no live pods"):
        kube.kill_pods("app=does-not-exist", NAMESPACE, 1, None, 0, service.configuration())
    assert default_ledger().replay() == []


# ------------------------------------------------------------------ pods


def test_kill_pods_by_percentage_deletes_the_rounded_up_share(service: Cluster) -> None:
    before = {p["metadata"]["name"] for p in _pods(service, DC1)}
    started = time.time()
    result = kube.kill_pods(DC1, NAMESPACE, None, 50.0, 0, service.configuration())
    assert len(result["killed"]) == 2  # ceil(3 * 50%)
    assert set(result["killed"]) <= before
    remaining = {p["metadata"]["name"] for p in _pods(service, DC1)}
    assert not set(result["killed"]) & remaining
    wait_ready(service, "app=llm-api", SERVICE_PODS)
    kills = [r for r in default_ledger().history() if r.fault.kind == "pod_kill" and r.fault.at >= started]
    assert len(kills) == 1  # recorded before the delete...
    assert kills[0].reverted_at is not None  # ...and closed at once, as the sandbox closes its kills
    assert not [f for f in default_ledger().replay() if f.kind == "pod_kill"]


def test_cpu_surge_and_restore_put_back_the_exact_previous_values(service: Cluster) -> None:
    conf = service.configuration()
    before = {
        p["metadata"]["name"]: p["metadata"]["annotations"].get(kube.USAGE_CPU) for p in _pods(service, DC1)
    }
    template = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
    before_template = template["spec"]["template"]["metadata"]["annotations"][kube.USAGE_CPU]
    try:
        surged = kube.surge_cpu(DC1, NAMESPACE, "300m", conf)  # 60%: below the HPA target
        assert surged["deployments"] == ["llm-api-dc1"]
        dep = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
        assert dep["spec"]["template"]["metadata"]["annotations"][kube.USAGE_CPU] == "300m"
        assert len(default_ledger().active(driver="kubernetes")) == 1
    finally:
        restored = kube.restore_cpu(DC1, NAMESPACE, conf)
    assert restored["reverted"] == 1
    dep = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
    assert dep["spec"]["template"]["metadata"]["annotations"][kube.USAGE_CPU] == before_template
    for pod in _pods(service, DC1):
        if pod["metadata"]["name"] in before:
            assert pod["metadata"]["annotations"].get(kube.USAGE_CPU) == before[pod["metadata"]["name"]]
    assert default_ledger().active(driver="kubernetes") == []
    wait_ready(service, "app=llm-api", SERVICE_PODS)


# ------------------------------------------------------------------ zones


def test_zone_outage_evicts_and_its_rollback_restores_the_nodes(service: Cluster) -> None:
    conf = service.configuration()
    zone = "dc2-az-b"
    nodes = kube.zone_nodes(zone, conf)
    assert len(nodes) == 2
    try:
        result = kube.zone_outage(zone, 120, conf)
        assert result["nodes"] == nodes
        for name in nodes:
            node = _node(service, name)
            assert node["spec"].get("unschedulable") is True
            assert {"key": kube.OUTAGE_TAINT, "value": zone, "effect": "NoExecute"} in [
                {k: t.get(k) for k in ("key", "value", "effect")} for t in node["spec"]["taints"]
            ]
        on_zone = [p for p in _pods(service, "app=llm-api") if p["spec"].get("nodeName") in nodes]
        assert on_zone == []
        wait_ready(service, "app=llm-api", SERVICE_PODS)  # rescheduled into dc2-az-a
    finally:
        back = kube.zone_outage_rollback(zone, conf)
    assert back["reverted"] == 1
    for name in nodes:
        node = _node(service, name)
        assert not node["spec"].get("unschedulable")
        assert kube.OUTAGE_TAINT not in [t["key"] for t in node["spec"].get("taints") or []]


def test_zone_outage_is_reverted_from_the_ledger_alone(service: Cluster) -> None:
    """What `chaosdrill recover` does after a kill -9: revert from the stored args only."""
    conf = service.configuration()
    zone = "dc3-az-a"
    kube.zone_outage(zone, 120, conf)
    [fault] = default_ledger().active(driver="kubernetes")
    kube._clients.clear()  # a fresh process: no cached client
    targets.revert(fault)
    targets.revert(fault)  # idempotent
    default_ledger().mark_reverted(fault.id, how="recover")
    for name in kube.zone_nodes(zone, conf):
        node = _node(service, name)
        assert not node["spec"].get("unschedulable")
        assert not [t for t in node["spec"].get("taints") or [] if t["key"] == kube.OUTAGE_TAINT]
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_unknown_zone_fails_without_recording(service: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no node"):
        kube.zone_outage("atlantis-az-z", 10, service.configuration())
    assert default_ledger().replay() == []


def test_zone_partition_creates_a_policy_and_its_rollback_removes_it(service: Cluster) -> None:
    conf = service.configuration()
    zone = zone_with_pods(service, "dc1")
    try:
        result = kube.zone_partition(zone, NAMESPACE, conf)
        policy = service.kubectl_json("get", "networkpolicy", result["policy"], "-n", NAMESPACE)
        assert policy["spec"]["podSelector"]["matchLabels"] == {kube.PARTITION_LABEL: zone}
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        labelled = _pods(service, f"{kube.PARTITION_LABEL}={zone}")
        assert {p["metadata"]["name"] for p in labelled} == set(result["pods"])
    finally:
        kube.zone_partition_rollback(zone, NAMESPACE, conf)
    assert service.kubectl_json("get", "networkpolicy", "-n", NAMESPACE)["items"] == []
    assert _pods(service, f"{kube.PARTITION_LABEL}={zone}") == []


# ------------------------------------------------------------------ data centers


def test_dc_failover_and_rollback_restore_exact_replicas_and_cells(service: Cluster) -> None:
    conf = service.configuration()
    service.kubectl("scale", "deployment", "llm-api-dc3", "-n", NAMESPACE, "--replicas", "4")
    wait_ready(service, "app=llm-api", SERVICE_PODS + 1)
    cells_before = service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"]
    try:
        result = kube.dc_failover("dc3", NAMESPACE, "llm-routing", 120, conf)
        assert result["deployments"] == {"llm-api-dc3": 4}
        assert _pods(service, "app=llm-api,chaosdrill.io/datacenter=dc3") == []
        cells = service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"]
        assert "dc3" not in cells.values()
        assert cells["cell-0"] == "dc1" and cells["cell-1"] == "dc2"
    finally:
        kube.dc_failover_rollback("dc3", NAMESPACE, conf)
    dep = service.kubectl_json("get", "deployment", "llm-api-dc3", "-n", NAMESPACE)
    assert dep["spec"]["replicas"] == 4
    assert service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"] == cells_before
    service.kubectl("scale", "deployment", "llm-api-dc3", "-n", NAMESPACE, "--replicas", "3")
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_dc_failover_with_a_missing_routing_configmap_touches_nothing(service: Cluster) -> None:
    with pytest.raises(BadInput, match="no-such-map"):
        kube.dc_failover("dc2", NAMESPACE, "no-such-map", 10, service.configuration())
    assert service.kubectl_json("get", "deployment", "llm-api-dc2", "-n", NAMESPACE)["spec"]["replicas"] == 3
    assert default_ledger().replay() == []


def test_dc_failover_outside_the_dc_allowlist_touches_nothing(service: Cluster) -> None:
    conf = {**service.configuration(), "chaosdrill_allow_dcs": ["dc1"]}
    with pytest.raises(ActivityFailed, match=r"blast radius: dc='dc2'.*allowlist \['dc1'\]"):
        kube.dc_failover("dc2", NAMESPACE, "llm-routing", 10, conf)
    assert service.kubectl_json("get", "deployment", "llm-api-dc2", "-n", NAMESPACE)["spec"]["replicas"] == 3
    assert default_ledger().replay() == []


def test_chaosk8s_gets_our_context_and_tls_verification(service: Cluster) -> None:
    secrets = kube.chaosk8s_secrets(service.configuration())
    assert secrets == {"KUBERNETES_CONTEXT": service.context, "KUBERNETES_VERIFY_SSL": "true"}


def test_kubeconfig_copy_is_not_required_to_be_in_home(service: Cluster, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere.yaml"
    shutil.copy(service.kubeconfig, copy)
    deps = kube.deployments(NAMESPACE, "app=llm-api", service.configuration(kubeconfig=str(copy)))
    assert sorted(d.name for d in deps) == ["llm-api-dc1", "llm-api-dc2", "llm-api-dc3"]
