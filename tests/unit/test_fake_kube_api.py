"""The fake API server, driven through the real ``kubernetes`` client as the fault code drives it."""

import json
from typing import Any

import pytest
from fakes.kube_api import FakeKubeApi
from kubernetes import client as k8s
from kubernetes.client import ApiException

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

METADATA_LIST = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"


@pytest.fixture
def fake() -> FakeKubeApi:
    return FakeKubeApi()


@pytest.fixture
def api(fake: FakeKubeApi) -> k8s.ApiClient:
    return fake.api_client()


# Typed Any, as the driver types them: the client's hints reject the dict bodies and raw
# responses (``_preload_content=False``) it accepts and returns at run time.
@pytest.fixture
def core(api: k8s.ApiClient) -> Any:
    return k8s.CoreV1Api(api)


@pytest.fixture
def apps(api: k8s.ApiClient) -> Any:
    return k8s.AppsV1Api(api)


def _names(items: list[Any]) -> list[str]:
    return [item.metadata.name for item in items]


def _status_body(error: ApiException) -> dict[str, Any]:
    assert error.body is not None
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_label_and_field_selectors(fake: FakeKubeApi, core: Any) -> None:
    fake.add_pod("shop", "web-a", labels={"app": "web", "tier": "front"}, node="n1")
    fake.add_pod("shop", "web-b", labels={"app": "web"}, node="n2")
    fake.add_pod("shop", "web-done", labels={"app": "web"}, phase="Succeeded")
    fake.add_pod("shop", "db", labels={"app": "db", "tier": "back"}, node="n1")
    fake.add_pod("other", "web-x", labels={"app": "web"}, node="n1")

    def listed(**kwargs: str) -> list[str]:
        return _names(core.list_namespaced_pod("shop", **kwargs).items)

    assert listed() == ["db", "web-a", "web-b", "web-done"]
    assert listed(label_selector="app=web,tier=front") == ["web-a"]
    assert listed(label_selector="app==web", field_selector=NOT_FINISHED) == ["web-a", "web-b"]
    assert listed(label_selector="app!=web") == ["db"]
    assert listed(label_selector="tier") == ["db", "web-a"]
    assert listed(label_selector="!tier") == ["web-b", "web-done"]
    assert listed(label_selector="tier in (back, middle)") == ["db"]
    assert listed(field_selector="metadata.name=web-b") == ["web-b"]
    assert listed(field_selector="spec.nodeName=n1") == ["db", "web-a"]

    on_n1 = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1", _preload_content=False)
    items = json.loads(on_n1.data)["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == [
        ("other", "web-x"),
        ("shop", "db"),
        ("shop", "web-a"),
    ]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod("shop", label_selector="app in web")
    assert bad.value.status == 400


def test_metadata_only_list(fake: FakeKubeApi, core: Any) -> None:
    pod = fake.add_pod("shop", "web-a", labels={"app": "web"}, annotations={"note": "x"}, node="n1")
    fake.add_pod("shop", "web-gone", labels={"app": "web"}, phase="Failed")
    response = core.list_namespaced_pod(
        "shop",
        label_selector="app=web",
        field_selector=NOT_FINISHED,
        _preload_content=False,
        _headers=METADATA_LIST,
    )
    listed = json.loads(response.data)
    assert listed["kind"] == "PartialObjectMetadataList"
    assert [sorted(item) for item in listed["items"]] == [["apiVersion", "kind", "metadata"]]
    meta = listed["items"][0]["metadata"]
    assert (meta["name"], meta["uid"], meta["annotations"]) == (
        "web-a",
        pod["metadata"]["uid"],
        {"note": "x"},
    )


def test_seeded_objects_carry_server_metadata(fake: FakeKubeApi, apps: Any) -> None:
    node = fake.add_node("n1", labels={"zone": "a"})
    deployment = fake.add_deployment("shop", "web", 3, labels={"app": "web"})
    fake.add_replicaset("shop", "web-7d9f", "web")
    assert "namespace" not in node["metadata"]
    assert deployment["metadata"]["namespace"] == "shop"
    assert int(deployment["metadata"]["resourceVersion"]) > int(node["metadata"]["resourceVersion"])

    rs = apps.read_namespaced_replica_set("web-7d9f", "shop")
    owner = rs.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Deployment", "web", deployment["metadata"]["uid"])
    assert rs.spec.selector.match_labels == {"app": "web"}
    assert rs.metadata.creation_timestamp is not None


def test_delete_pod_preconditions_grace_and_missing(fake: FakeKubeApi, core: Any) -> None:
    uid = fake.add_pod("shop", "web-a")["metadata"]["uid"]
    fake.add_pod("shop", "web-b")

    with pytest.raises(ApiException) as conflict:
        core.delete_namespaced_pod(
            "web-a", "shop", body={"gracePeriodSeconds": 0, "preconditions": {"uid": "other"}}
        )
    assert conflict.value.status == 409
    assert _status_body(conflict.value)["reason"] == "Conflict"
    assert fake.get("pods", "shop", "web-a") is not None

    response = core.delete_namespaced_pod(
        "web-a", "shop", body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}, _preload_content=False
    )
    assert json.loads(response.data)["metadata"]["name"] == "web-a"
    assert fake.get("pods", "shop", "web-a") is None

    with pytest.raises(ApiException) as missing:
        core.delete_namespaced_pod("web-a", "shop", body={"gracePeriodSeconds": 0})
    assert missing.value.status == 404
    assert _status_body(missing.value)["message"] == 'pods "web-a" not found'

    core.delete_namespaced_pod("web-b", "shop", body={"gracePeriodSeconds": 30})
    terminating = fake.get("pods", "shop", "web-b")
    assert terminating is not None
    assert terminating["metadata"]["deletionTimestamp"]
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30


def test_patch_is_a_merge_patch(fake: FakeKubeApi, core: Any) -> None:
    fake.add_pod("shop", "web-a", labels={"app": "web", "mark": "1"}, annotations={"keep": "a", "drop": "b"})
    patched = core.patch_namespaced_pod(
        "web-a", "shop", {"metadata": {"labels": {"mark": None, "new": "2"}, "annotations": {"drop": None}}}
    )
    assert patched.metadata.labels == {"app": "web", "new": "2"}
    assert patched.metadata.annotations == {"keep": "a"}
    stored = fake.get("pods", "shop", "web-a")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"app": "web", "new": "2"}
    assert stored["status"]["phase"] == "Running"

    with pytest.raises(ApiException) as json_patch:
        core.patch_namespaced_pod("web-a", "shop", [{"op": "remove", "path": "/metadata/labels/app"}])
    assert json_patch.value.status == 415


def test_patch_node_replaces_lists_and_checks_resource_version(fake: FakeKubeApi, core: Any) -> None:
    fake.add_node("n1", taints=[{"key": "old", "effect": "NoSchedule"}])
    node = core.read_node("n1")
    version = node.metadata.resource_version
    taint = {"key": "chaos", "value": "zone-a", "effect": "NoExecute"}
    body = {"metadata": {"resourceVersion": version}, "spec": {"unschedulable": True, "taints": [taint]}}
    after = core.patch_node("n1", body)
    assert int(after.metadata.resource_version) > int(version)
    assert after.spec.unschedulable is True
    assert [(t.key, t.value, t.effect) for t in after.spec.taints] == [("chaos", "zone-a", "NoExecute")]

    with pytest.raises(ApiException) as stale:
        core.patch_node("n1", {"metadata": {"resourceVersion": version}, "spec": {"unschedulable": False}})
    assert stale.value.status == 409
    assert "the object has been modified" in _status_body(stale.value)["message"]
    stored = fake.get("nodes", None, "n1")
    assert stored is not None
    assert stored["spec"]["unschedulable"] is True


def test_configmap_read_replace_patch(fake: FakeKubeApi, core: Any) -> None:
    fake.add_configmap("shop", "routing", {"dc-a": "50", "dc-b": "50"})
    cm = core.read_namespaced_config_map("routing", "shop")
    cm.data = {"dc-a": "0", "dc-b": "100"}
    core.replace_namespaced_config_map("routing", "shop", cm)
    stored = fake.get("configmaps", "shop", "routing")
    assert stored is not None
    assert stored["data"] == {"dc-a": "0", "dc-b": "100"}

    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("routing", "shop", cm)  # still carries the old resourceVersion
    assert stale.value.status == 409

    patched = core.patch_namespaced_config_map("routing", "shop", {"data": {"dc-a": None}})
    assert patched.data == {"dc-b": "100"}


def test_network_policy_create_twice_conflicts(fake: FakeKubeApi, api: k8s.ApiClient) -> None:
    networking: Any = k8s.NetworkingV1Api(api)
    policy = {"metadata": {"name": "isolate-a"}, "spec": {"podSelector": {"matchLabels": {"zone": "a"}}}}
    created = networking.create_namespaced_network_policy("shop", policy)
    assert created.metadata.namespace == "shop"
    assert created.metadata.uid

    with pytest.raises(ApiException) as again:
        networking.create_namespaced_network_policy("shop", policy)
    assert again.value.status == 409
    assert _status_body(again.value)["reason"] == "AlreadyExists"

    assert networking.read_namespaced_network_policy("isolate-a", "shop").spec.pod_selector.match_labels == {
        "zone": "a"
    }
    networking.delete_namespaced_network_policy("isolate-a", "shop")
    assert fake.objects("networkpolicies") == []
    with pytest.raises(ApiException) as gone:
        networking.read_namespaced_network_policy("isolate-a", "shop")
    assert gone.value.status == 404


def test_deployments_hpas_and_pdbs(fake: FakeKubeApi, api: k8s.ApiClient, apps: Any) -> None:
    fake.add_deployment("shop", "web", 2, labels={"dc": "a"}, template_annotations={"restarted": "no"})
    fake.add_deployment("shop", "api", 1, labels={"dc": "b"})
    fake.add_hpa("shop", "web", "web", min_replicas=2, max_replicas=5, current=2)
    fake.add_pdb("shop", "web", {"app": "web"}, min_available=1, healthy=2)

    assert _names(apps.list_namespaced_deployment("shop", label_selector="dc=a").items) == ["web"]
    scaled = apps.patch_namespaced_deployment("web", "shop", {"spec": {"replicas": 0}})
    assert scaled.spec.replicas == 0
    assert scaled.spec.template.metadata.annotations == {"restarted": "no"}
    assert apps.read_namespaced_deployment("web", "shop").spec.replicas == 0

    autoscaling: Any = k8s.AutoscalingV2Api(api)
    hpa = autoscaling.list_namespaced_horizontal_pod_autoscaler("shop").items[0]
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas, hpa.status.desired_replicas) == (2, 5, 2)
    policy: Any = k8s.PolicyV1Api(api)
    pdb = policy.list_namespaced_pod_disruption_budget("shop").items[0]
    assert (pdb.status.current_healthy, pdb.status.disruptions_allowed) == (2, 1)


def test_fail_next_injects_errors(fake: FakeKubeApi, core: Any) -> None:
    fake.add_node("n1")
    fake.fail_next("GET", "/nodes/n1", 500, times=2)
    fake.fail_next("PATCH", "/nodes/", 409)
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            core.read_node("n1")
        assert failed.value.status == 500
        assert _status_body(failed.value)["reason"] == "InternalError"
    assert core.read_node("n1").metadata.name == "n1"

    with pytest.raises(ApiException) as conflict:
        core.patch_node("n1", {"spec": {"unschedulable": True}})
    assert conflict.value.status == 409
    stored = fake.get("nodes", None, "n1")
    assert stored is not None
    assert "unschedulable" not in stored["spec"]  # a failed request changes nothing
    assert core.patch_node("n1", {"spec": {"unschedulable": True}}).spec.unschedulable is True
    assert fake.requests == [("GET", "/api/v1/nodes/n1")] * 3 + [("PATCH", "/api/v1/nodes/n1")] * 2


def test_unknown_kind_or_path_is_a_not_found_status(api: k8s.ApiClient) -> None:
    custom: Any = k8s.CustomObjectsApi(api)
    with pytest.raises(ApiException) as unknown:
        custom.get_namespaced_custom_object("example.com", "v1", "shop", "widgets", "w1")
    assert unknown.value.status == 404
    assert _status_body(unknown.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound",
        "code": 404,
    }
    with pytest.raises(ApiException) as wrong_group:
        custom.list_namespaced_custom_object("apps", "v1", "shop", "pods")
    assert wrong_group.value.status == 404


def test_on_write_hook_simulates_controllers(fake: FakeKubeApi, core: Any, apps: Any) -> None:
    fake.add_node("n1")
    fake.add_node("n2")
    fake.add_deployment("shop", "web", 2, selector={"app": "web"})
    fake.add_pod("shop", "web-a", labels={"app": "web"}, node="n1")
    fake.add_pod("shop", "web-b", labels={"app": "web"}, node="n2")
    fake.add_pod("shop", "db", labels={"app": "db"}, node="n1")
    writes: list[tuple[str, str, str]] = []

    def controllers(method: str, kind: str, obj: dict[str, Any]) -> None:
        writes.append((method, kind, obj["metadata"]["name"]))
        if kind == "nodes" and any(t["effect"] == "NoExecute" for t in obj["spec"].get("taints", [])):
            for pod in fake.objects("pods"):
                if pod["spec"].get("nodeName") == obj["metadata"]["name"]:
                    fake.remove("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        if kind == "deployments" and obj["spec"]["replicas"] == 0:
            wanted = obj["spec"]["selector"]["matchLabels"].items()
            for pod in fake.objects("pods"):
                if wanted <= pod["metadata"]["labels"].items():
                    fake.remove("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])

    fake.on_write = controllers
    core.patch_node("n1", {"spec": {"taints": [{"key": "down", "effect": "NoExecute"}]}})
    assert [p["metadata"]["name"] for p in fake.objects("pods")] == ["web-b"]
    apps.patch_namespaced_deployment("web", "shop", {"spec": {"replicas": 0}})
    assert fake.objects("pods") == []
    assert writes == [("PATCH", "nodes", "n1"), ("PATCH", "deployments", "web")]
