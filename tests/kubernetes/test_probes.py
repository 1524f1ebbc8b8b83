"""Probes against the local control plane: they pass on a healthy service and fail with a clear message."""

import pytest
from chaoslib.exceptions import ActivityFailed
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster

from probes import kubernetes as probes

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]


def test_deployments_ready_holds_and_fails_naming_threshold_and_value(service: Cluster) -> None:
    conf = service.configuration()
    assert probes.deployments_ready("app=llm-api", NAMESPACE, SERVICE_PODS, 30, configuration=conf) is True
    with pytest.raises(ActivityFailed) as err:
        probes.deployments_ready("app=llm-api", NAMESPACE, SERVICE_PODS + 50, 2, configuration=conf)
    message = str(err.value)
    assert f">= {SERVICE_PODS + 50}" in message
    assert f"{SERVICE_PODS} ready" in message


def test_pods_per_zone_counts_every_pod_in_a_known_zone(service: Cluster) -> None:
    counts = probes.pods_per_zone("app=llm-api", NAMESPACE, configuration=service.configuration())
    assert sum(counts.values()) == SERVICE_PODS
    assert set(counts) <= {f"dc{d}-az-{z}" for d in (1, 2, 3) for z in "ab"}


def test_zone_spread_probe(service: Cluster) -> None:
    conf = service.configuration()
    assert probes.pods_spread_over_zones("app=llm-api", NAMESPACE, 3, 10, configuration=conf)
    with pytest.raises(ActivityFailed, match=">= 7 zones"):
        probes.pods_spread_over_zones("app=llm-api", NAMESPACE, 7, 1, configuration=conf)


def test_no_pods_on_cordoned_nodes_sees_a_cordoned_node(service: Cluster) -> None:
    conf = service.configuration()
    assert probes.no_pods_on_cordoned_nodes("app=llm-api", NAMESPACE, 5, configuration=conf)
    pods = service.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "app=llm-api")["items"]
    node = pods[0]["spec"]["nodeName"]
    service.kubectl("cordon", node)
    try:
        with pytest.raises(ActivityFailed, match="on cordoned nodes"):
            probes.no_pods_on_cordoned_nodes("app=llm-api", NAMESPACE, 2, configuration=conf)
    finally:
        service.kubectl("uncordon", node)


def test_hpa_probes_read_the_reference_hpas(service: Cluster) -> None:
    conf = service.configuration()
    status = probes.hpa_status(NAMESPACE, configuration=conf)
    assert sorted(h["name"] for h in status) == ["llm-api-dc1", "llm-api-dc2", "llm-api-dc3"]
    assert all(h["min_replicas"] == 3 and h["max_replicas"] == 20 for h in status)
    assert probes.hpa_settles("llm-api-dc1", 3, NAMESPACE, 120, configuration=conf)
    with pytest.raises(ActivityFailed, match="replicas >= 15"):
        probes.hpa_reaches("llm-api-dc1", 15, NAMESPACE, 2, configuration=conf)
    with pytest.raises(ActivityFailed, match="does not exist"):
        probes.hpa_reaches("no-such-hpa", 1, NAMESPACE, 0, configuration=conf)


def test_pdbs_respected_on_a_healthy_service(service: Cluster) -> None:
    assert probes.pdbs_respected(NAMESPACE, 30, configuration=service.configuration())


def test_probes_refuse_a_namespace_outside_the_allow_list(service: Cluster) -> None:
    from chaosdrill.errors import BadInput

    with pytest.raises(BadInput, match="allow_namespaces"):
        probes.pods_per_zone("app=llm-api", "kube-system", configuration=service.configuration())
