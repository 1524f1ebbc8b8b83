"""The Kubernetes driver against the real local control plane: faults, their undo, bad input."""

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, wait_ready, zone_with_pods

from actions import datacenters, pods, traffic, zones
from chaosdrill import faults
from chaosdrill.drivers.kube import client as kube_client
from chaosdrill.drivers.kube import reads as kube
from chaosdrill.errors import BadInput
from chaosdrill.faults.kinds.surge import USAGE_CPU
from chaosdrill.faults.kinds.zones import OUTAGE_TAINT, PARTITION_LABEL
from chaosdrill.ledger import default_ledger

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
        pods.kill_pods(DC1, 1, None, NAMESPACE, 0, configuration=conf)


def test_unknown_context_is_bad_input_and_names_the_known_ones(service: Cluster) -> None:
    with pytest.raises(BadInput, match=r"no-such-context.*kwok-chaosdrill"):
        pods.kill_pods(
            DC1, 1, None, NAMESPACE, 0, configuration=service.configuration(kube_context="no-such-context")
        )


def test_missing_kubeconfig_is_bad_input(service: Cluster, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        pods.kill_pods(
            DC1, 1, None, NAMESPACE, 0, configuration=service.configuration(kubeconfig=str(tmp_path / "nope"))
        )


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
        pods.kill_pods("app=llm-api", 1, None, "default", 0, configuration=service.configuration())


@pytest.mark.parametrize(
    ("count", "percentage", "match"),
    [(-1, None, "count"), (None, 150.0, "percentage"), (None, -5.0, "percentage"), (1, 50.0, "not both")],
)
def test_bad_amounts_are_rejected_before_touching_anything(
    service: Cluster, count: int | None, percentage: float | None, match: str
) -> None:
    before = {p["metadata"]["uid"] for p in _pods(service, DC1)}
    with pytest.raises(BadInput, match=match):
        pods.kill_pods(DC1, count, percentage, NAMESPACE, 0, configuration=service.configuration())
    assert {p["metadata"]["uid"] for p in _pods(service, DC1)} == before
    assert default_ledger().replay() == []


def test_kill_beyond_the_blast_radius_cap_deletes_nothing(service: Cluster) -> None:
    before = {p["metadata"]["uid"] for p in _pods(service, DC1)}
    conf = service.configuration(chaosdrill_max_percentage=50)
    with pytest.raises(ActivityFailed, match="blast radius"):
        pods.kill_pods(DC1, None, 100.0, NAMESPACE, 0, configuration=conf)
    with pytest.raises(ActivityFailed, match="blast radius"):
        pods.kill_pods(DC1, len(before), None, NAMESPACE, 0, configuration=conf)
    assert {p["metadata"]["uid"] for p in _pods(service, DC1)} == before
    assert default_ledger().replay() == []


def test_selector_matching_nothing_fails_and_records_nothing(service: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no live pods"):
        pods.kill_pods("app=does-not-exist", 1, None, NAMESPACE, 0, configuration=service.configuration())
    assert default_ledger().replay() == []


# ------------------------------------------------------------------ pods


def test_kill_pods_by_percentage_deletes_the_rounded_up_share(service: Cluster) -> None:
    before = {p["metadata"]["name"] for p in _pods(service, DC1)}
    started = time.time()
    result = pods.kill_pods(DC1, None, 50.0, NAMESPACE, 0, configuration=service.configuration())
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
    before = {p["metadata"]["name"]: p["metadata"]["annotations"].get(USAGE_CPU) for p in _pods(service, DC1)}
    template = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
    before_template = template["spec"]["template"]["metadata"]["annotations"][USAGE_CPU]
    try:
        surged = traffic.surge(
            selector=DC1, namespace=NAMESPACE, usage_cpu="300m", configuration=conf
        )  # 60%: below the HPA target
        assert surged["deployments"] == ["llm-api-dc1"]
        dep = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
        assert dep["spec"]["template"]["metadata"]["annotations"][USAGE_CPU] == "300m"
        assert len(default_ledger().active(target="kubernetes")) == 1
    finally:
        restored = traffic.end_surge(selector=DC1, namespace=NAMESPACE, configuration=conf)
    assert restored["ledger_entries_closed"] == 1
    dep = service.kubectl_json("get", "deployment", "llm-api-dc1", "-n", NAMESPACE)
    assert dep["spec"]["template"]["metadata"]["annotations"][USAGE_CPU] == before_template
    for pod in _pods(service, DC1):
        if pod["metadata"]["name"] in before:
            assert pod["metadata"]["annotations"].get(USAGE_CPU) == before[pod["metadata"]["name"]]
    assert default_ledger().active(target="kubernetes") == []
    wait_ready(service, "app=llm-api", SERVICE_PODS)


# ------------------------------------------------------------------ zones


def test_zone_outage_evicts_and_its_rollback_restores_the_nodes(service: Cluster) -> None:
    conf = service.configuration()
    zone = "dc2-az-b"
    nodes = kube.zone_nodes(zone, conf)
    assert len(nodes) == 2
    try:
        result = zones.zone_outage(zone, 120, configuration=conf)
        assert result["nodes"] == nodes
        for name in nodes:
            node = _node(service, name)
            assert node["spec"].get("unschedulable") is True
            assert {"key": OUTAGE_TAINT, "value": zone, "effect": "NoSchedule"} in [
                {k: t.get(k) for k in ("key", "value", "effect")} for t in node["spec"]["taints"]
            ]
        on_zone = [p for p in _pods(service, "app=llm-api") if p["spec"].get("nodeName") in nodes]
        assert on_zone == []
        wait_ready(service, "app=llm-api", SERVICE_PODS)  # rescheduled into dc2-az-a
    finally:
        back = zones.zone_outage_rollback(zone, configuration=conf)
    assert back["ledger_entries_closed"] == 1
    for name in nodes:
        node = _node(service, name)
        assert not node["spec"].get("unschedulable")
        assert OUTAGE_TAINT not in [t["key"] for t in node["spec"].get("taints") or []]


def test_zone_outage_is_reverted_from_the_ledger_alone(service: Cluster) -> None:
    """What `chaosdrill recover` does after a kill -9: revert from the stored args only."""
    conf = service.configuration()
    zone = "dc3-az-a"
    zones.zone_outage(zone, 120, configuration=conf)
    [fault] = default_ledger().active(target="kubernetes")
    kube_client._clients.clear()  # a fresh process: no cached client
    faults.revert(fault)
    faults.revert(fault)  # idempotent
    default_ledger().mark_reverted(fault.id, how="recover")
    for name in kube.zone_nodes(zone, conf):
        node = _node(service, name)
        assert not node["spec"].get("unschedulable")
        assert not [t for t in node["spec"].get("taints") or [] if t["key"] == OUTAGE_TAINT]
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_unknown_zone_fails_without_recording(service: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no node"):
        zones.zone_outage("atlantis-az-z", 10, configuration=service.configuration())
    assert default_ledger().replay() == []


def test_zone_partition_creates_a_policy_and_its_rollback_removes_it(service: Cluster) -> None:
    conf = service.configuration()
    zone = zone_with_pods(service, "dc1")
    try:
        result = zones.zone_partition(zone, NAMESPACE, configuration=conf)
        policy = service.kubectl_json("get", "networkpolicy", result["policy"], "-n", NAMESPACE)
        assert policy["spec"]["podSelector"]["matchLabels"] == {PARTITION_LABEL: zone}
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        labelled = _pods(service, f"{PARTITION_LABEL}={zone}")
        assert {p["metadata"]["name"] for p in labelled} == set(result["pods"])
    finally:
        zones.zone_partition_rollback(zone, NAMESPACE, configuration=conf)
    assert service.kubectl_json("get", "networkpolicy", "-n", NAMESPACE)["items"] == []
    assert _pods(service, f"{PARTITION_LABEL}={zone}") == []


# ------------------------------------------------------------------ data centers


def test_dc_failover_and_rollback_restore_exact_replicas_and_cells(service: Cluster) -> None:
    conf = service.configuration()
    service.kubectl("scale", "deployment", "llm-api-dc3", "-n", NAMESPACE, "--replicas", "4")
    wait_ready(service, "app=llm-api", SERVICE_PODS + 1)
    cells_before = service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"]
    try:
        result = datacenters.dc_failover("dc3", NAMESPACE, "llm-routing", 120, configuration=conf)
        assert result["deployments"] == {"llm-api-dc3": 4}
        assert _pods(service, "app=llm-api,chaosdrill.io/datacenter=dc3") == []
        cells = service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"]
        assert "dc3" not in cells.values()
        assert cells["cell-0"] == "dc1" and cells["cell-1"] == "dc2"
    finally:
        datacenters.dc_failover_rollback("dc3", NAMESPACE, configuration=conf)
    dep = service.kubectl_json("get", "deployment", "llm-api-dc3", "-n", NAMESPACE)
    assert dep["spec"]["replicas"] == 4
    assert service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"] == cells_before
    service.kubectl("scale", "deployment", "llm-api-dc3", "-n", NAMESPACE, "--replicas", "3")
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_dc_failover_with_a_missing_routing_configmap_touches_nothing(service: Cluster) -> None:
    with pytest.raises(BadInput, match="no-such-map"):
        datacenters.dc_failover("dc2", NAMESPACE, "no-such-map", 10, configuration=service.configuration())
    assert service.kubectl_json("get", "deployment", "llm-api-dc2", "-n", NAMESPACE)["spec"]["replicas"] == 3
    assert default_ledger().replay() == []


def test_dc_failover_outside_the_dc_allowlist_touches_nothing(service: Cluster) -> None:
    conf = {**service.configuration(), "chaosdrill_allow_dcs": ["dc1"]}
    with pytest.raises(ActivityFailed, match=r"blast radius: dc='dc2'.*allowlist \['dc1'\]"):
        datacenters.dc_failover("dc2", NAMESPACE, "llm-routing", 10, configuration=conf)
    assert service.kubectl_json("get", "deployment", "llm-api-dc2", "-n", NAMESPACE)["spec"]["replicas"] == 3
    assert default_ledger().replay() == []


def test_chaosk8s_gets_our_context_and_tls_verification(service: Cluster) -> None:
    secrets = kube_client.chaosk8s_secrets(service.configuration())
    assert secrets == {"KUBERNETES_CONTEXT": service.context, "KUBERNETES_VERIFY_SSL": "true"}


def test_kubeconfig_copy_is_not_required_to_be_in_home(service: Cluster, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere.yaml"
    shutil.copy(service.kubeconfig, copy)
    deps = kube.deployments(NAMESPACE, "app=llm-api", service.configuration(kubeconfig=str(copy)))
    assert sorted(d.name for d in deps) == ["llm-api-dc1", "llm-api-dc2", "llm-api-dc3"]
