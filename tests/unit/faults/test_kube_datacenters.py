"""dc_failover on Kubernetes through the engine, on the fake API server: the DC's Deployments
go to zero and its cells move to the survivors in the routing ConfigMap; every undo path
gives back the exact replica counts and cell map. Last, every marking kind at once: the
cluster's marks alone are enough to find and revert them all."""

import time
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults import engine, sweep
from chaosdrill.faults.kinds.zones import PARTITION_LABEL

from .kube_support import (
    CONF,
    CONTEXT,
    KUBECONFIG,
    NAMESPACE,
    ROUTING,
    Cluster,
    FakeDrivers,
    conf,
    deployment_view,
    make_cluster,
    mark_on,
    marked,
    node_view,
    pod_names,
    pod_view,
    records,
    stub_watchdog,
    writes,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

FAILOVER = {"dc": "dc1", "namespace": NAMESPACE}
MOVED = {"cell-0": "dc2", "cell-1": "dc2", "cell-2": "dc2"}
DC1_PODS = [f"llm-api-dc1-5d8f7c-p{i}" for i in range(4)]


@pytest.fixture(autouse=True)
def watchdog_starts(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    return stub_watchdog(monkeypatch)


@pytest.fixture
def kc(tmp_path: Path) -> Cluster:
    return make_cluster(tmp_path)


def _routing(kc: Cluster) -> dict[str, str]:
    cm = kc.fake.get("configmaps", NAMESPACE, "llm-routing")
    assert cm is not None
    return dict(cm.get("data") or {})


def _state(kc: Cluster) -> dict[str, Any]:
    """What a failover may change: the Deployments, and the routing ConfigMap's data and metadata."""
    cm = kc.fake.get("configmaps", NAMESPACE, "llm-routing")
    assert cm is not None
    return {
        "deployments": {d: deployment_view(kc.fake, d) for d in ("llm-api-dc1", "llm-api-dc2")},
        "routing": dict(cm.get("data") or {}),
        "routing_labels": dict(cm["metadata"].get("labels") or {}),
        "routing_annotations": dict(cm["metadata"].get("annotations") or {}),
    }


def test_failover_plan_reads_replicas_and_cells_and_writes_nothing(kc: Cluster) -> None:
    planned = kc.plan("dc_failover", FAILOVER)
    assert planned.key == f"dc_failover/{CONTEXT}/{NAMESPACE}/dc1"
    assert planned.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "dc": "dc1",
        "namespace": NAMESPACE,
        "replicas": {"llm-api-dc1": 4},
        "routing_configmap": "llm-routing",
        "routing": ROUTING,
    }
    assert planned.work["after"] == MOVED
    assert (planned.dcs, planned.dc_selector, planned.namespaces) == (("dc1",), "dc1", (NAMESPACE,))
    assert planned.touches == (
        f"Deployment {NAMESPACE}/llm-api-dc1: scale 4 -> 0",
        f"ConfigMap {NAMESPACE}/llm-routing: move dc1's cells to the survivors",
    )
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_failover_scales_the_dc_to_zero_moves_its_cells_and_marks_both(kc: Cluster) -> None:
    before = _state(kc)
    result = kc.inject("dc_failover", FAILOVER)
    fault_id = result["fault_id"]
    assert (result["deployments"], result["routing"]) == ({"llm-api-dc1": 4}, MOVED)

    assert deployment_view(kc.fake, "llm-api-dc1")["replicas"] == 0
    assert _routing(kc) == MOVED
    assert [p for p in pod_names(kc.fake, NAMESPACE) if p.startswith("llm-api-dc1")] == []
    assert sorted(kc.controllers.scaled_down) == DC1_PODS
    dep_mark = mark_on(kc.fake, "deployments", NAMESPACE, "llm-api-dc1", "dc_failover")
    assert dep_mark is not None and (dep_mark.fault_id, dep_mark.undo) == (fault_id, {"replicas": 4})
    cm_mark = mark_on(kc.fake, "configmaps", NAMESPACE, "llm-routing", "dc_failover")
    assert cm_mark is not None and (cm_mark.fault_id, cm_mark.undo) == (fault_id, {"data": ROUTING})
    assert deployment_view(kc.fake, "llm-api-dc2") == before["deployments"]["llm-api-dc2"]

    record = kc.record()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("dc_failover", "kubernetes", None)
    assert record.fault.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "dc": "dc1",
        "namespace": NAMESPACE,
        "replicas": {"llm-api-dc1": 4},
        "routing_configmap": "llm-routing",
        "routing": ROUTING,
    }


def test_failover_without_a_routing_configmap_only_scales(kc: Cluster) -> None:
    kc.inject("dc_failover", {**FAILOVER, "routing_configmap": ""})
    assert deployment_view(kc.fake, "llm-api-dc1")["replicas"] == 0
    assert _routing(kc) == ROUTING
    assert mark_on(kc.fake, "configmaps", NAMESPACE, "llm-routing", "dc_failover") is None
    assert kc.record().fault.undo["routing"] is None


def test_failover_whose_pods_stay_is_undone(kc: Cluster) -> None:
    before = _state(kc)
    kc.controllers.scale = False  # a ReplicaSet controller that never gets round to it
    with pytest.raises(FaultNotApplied, match=r"4 pods of dc1 still live after 0\.3s"):
        kc.inject("dc_failover", {**FAILOVER, "wait_gone_s": 0.3})
    assert _state(kc) == before
    assert marked(kc.fake) == []
    assert kc.record().how == "injection-failed"


def test_failover_remove_restores_replicas_and_replaces_the_cell_map(kc: Cluster) -> None:
    before = _state(kc)
    kc.inject("dc_failover", FAILOVER)
    # While the DC is out, the edge's operator adds a cell: the undo must not keep it.
    cm = kc.fake.get("configmaps", NAMESPACE, "llm-routing")
    assert cm is not None
    cm["data"]["cell-3"] = "dc2"
    kc.fake.put("configmaps", cm)
    since = len(kc.fake.requests)
    assert kc.remove("dc_failover", FAILOVER) == {
        "ledger_entries_closed": 1,
        "dc": "dc1",
        "namespace": NAMESPACE,
    }
    assert _state(kc) == before
    assert ("PUT", f"/api/v1/namespaces/{NAMESPACE}/configmaps/llm-routing") in writes(kc.fake, since)
    assert marked(kc.fake) == []
    assert kc.record().how == "rollback"
    assert kc.remove("dc_failover", FAILOVER)["ledger_entries_closed"] == 0
    assert _state(kc) == before


def test_failover_revert_from_the_ledger_alone(kc: Cluster) -> None:
    before = _state(kc)
    kc.inject("dc_failover", FAILOVER)
    elsewhere = FakeDrivers(kc.fake)
    engine.revert(kc.record().fault, elsewhere)
    assert _state(kc) == before
    engine.revert(kc.record().fault, elsewhere)  # twice is fine
    assert _state(kc) == before
    assert elsewhere.kube_calls == []
    assert elsewhere.kube_at_calls == [(KUBECONFIG, CONTEXT)] * 2
    assert marked(kc.fake) == []


def test_failover_injected_twice_is_refused_and_removed_back_to_the_start(kc: Cluster) -> None:
    """A second failover of a DC still failed over would record the outage as its "before";
    it is refused with nothing recorded or written, and one remove restores the start."""
    before = _state(kc)
    kc.inject("dc_failover", FAILOVER)
    since = len(kc.fake.requests)
    with pytest.raises(ActivityFailed, match="failed over already"):
        kc.inject("dc_failover", FAILOVER)  # a retried step, or a drill that fails the DC over again
    assert writes(kc.fake, since) == []
    assert kc.remove("dc_failover", FAILOVER)["ledger_entries_closed"] == 1
    assert _state(kc) == before


def test_failover_injected_twice_is_swept_back_to_the_start(kc: Cluster) -> None:
    before = _state(kc)
    kc.inject("dc_failover", FAILOVER)
    with pytest.raises(ActivityFailed, match="failed over already"):
        kc.inject("dc_failover", FAILOVER)  # refused: the first fault's marks stay the only ones
    kc.ledger.path.unlink()
    report = sweep.sweep(kc.drivers.kube(CONF), now=time.time(), drivers=kc.drivers)
    assert report.failed == []
    assert _state(kc) == before


def test_failover_marks_rebuild_the_ledger_undo_and_sweep_without_a_ledger(kc: Cluster) -> None:
    before = _state(kc)
    fault_id = kc.inject("dc_failover", {**FAILOVER, "ttl_s": 45})["fault_id"]
    fault = kc.record().fault
    target = kc.drivers.kube(CONF)
    found, unreadable = sweep.find(target)
    assert unreadable == []
    [cluster_fault] = found
    assert (cluster_fault.kind, cluster_fault.fault_id) == ("dc_failover", fault_id)
    assert sorted((o.object_kind, o.namespace, o.name) for o in cluster_fault.objects) == [
        ("ConfigMap", NAMESPACE, "llm-routing"),
        ("Deployment", NAMESPACE, "llm-api-dc1"),
    ]
    state = sweep.undo_state(cluster_fault)
    fields = ("namespace", "replicas", "routing_configmap", "routing")
    assert {k: state[k] for k in fields} == {k: fault.undo[k] for k in fields}
    assert fault.expires_at is not None and cluster_fault.expires_at == pytest.approx(fault.expires_at)

    report = sweep.sweep(target, now=fault.expires_at - 5, expired_only=True, drivers=kc.drivers)
    assert report.reverted == [] and deployment_view(kc.fake, "llm-api-dc1")["replicas"] == 0
    kc.ledger.path.unlink()
    sweeper = FakeDrivers(kc.fake)
    report = sweep.sweep(target, now=fault.expires_at + 5, expired_only=True, drivers=sweeper)
    assert [f.fault_id for f in report.reverted] == [fault_id] and report.failed == []
    assert sweeper.kube_at_calls == [(KUBECONFIG, CONTEXT)]
    assert _state(kc) == before
    assert marked(kc.fake) == []


def test_failover_outside_the_allowed_dcs_touches_nothing(kc: Cluster) -> None:
    before = _state(kc)
    with pytest.raises(
        ActivityFailed, match=r"dc='dc1' reaches \['dc1'\], outside the experiment's allowlist"
    ):
        kc.inject("dc_failover", FAILOVER, conf(chaosdrill_allow_dcs=["dc2", "dc3"]))
    assert kc.fake.requests == []  # refused before the cluster is reached at all
    assert records(kc.ledger) == []
    assert _state(kc) == before


def test_failover_of_a_dc_outside_the_allowlist_is_refused_before_reading_it(kc: Cluster) -> None:
    """A DC the cluster does not have, outside the allowlist: the allowlist answers first,
    with no list of its Deployments and no read of the routing ConfigMap."""
    with pytest.raises(ActivityFailed, match=r"blast radius: dc='dc7' reaches \['dc7'\]"):
        kc.inject("dc_failover", {"dc": "dc7", "namespace": NAMESPACE}, conf(chaosdrill_allow_dcs=["dc1"]))
    assert kc.fake.requests == []
    assert kc.drivers.kube_calls == []  # not even a client was made
    planned = engine.plan("dc_failover", conf(chaosdrill_allow_dcs=["dc1"]), FAILOVER, drivers=kc.drivers)
    assert planned.dcs == ("dc1",)


def test_failover_outside_the_namespace_allowlist_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="'batch' is not in"):
        kc.inject("dc_failover", {"dc": "dc1", "namespace": "batch"})
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_failover_with_a_missing_routing_configmap_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="ConfigMap llm/no-such-map does not exist"):
        kc.inject("dc_failover", {**FAILOVER, "routing_configmap": "no-such-map"})
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_failover_of_a_dc_with_no_deployments_touches_nothing(kc: Cluster) -> None:
    with pytest.raises(ActivityFailed, match=r"no Deployment labelled chaosdrill\.io/datacenter=dc7"):
        kc.inject("dc_failover", {"dc": "dc7", "namespace": NAMESPACE})
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


# --------------------------------------------------------------------------- every marking kind


def test_every_marked_fault_is_found_and_swept_from_the_cluster_alone(kc: Cluster) -> None:
    def snapshot() -> dict[str, Any]:
        return {
            "nodes": {
                n["metadata"]["name"]: node_view(kc.fake, n["metadata"]["name"])
                for n in kc.fake.objects("nodes")
            },
            "failover": _state(kc),
            "pods": {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)},
            "policies": kc.fake.objects("networkpolicies"),
        }

    before = snapshot()
    results = {
        "cpu_surge": kc.inject(
            "surge", {"selector": "app=llm-api", "namespace": NAMESPACE, "usage_cpu": "700m"}
        ),
        "zone_partition": kc.inject("zone_partition", {"zone": "dc2-az-a", "namespace": NAMESPACE}),
        "zone_outage": kc.inject("zone_outage", {"zone": "dc2-az-b"}),
        "dc_failover": kc.inject("dc_failover", FAILOVER),
    }
    ids = {kind: result["fault_id"] for kind, result in results.items()}
    gone = set(kc.controllers.evicted) | set(kc.controllers.scaled_down)
    assert sorted(gone) == [*DC1_PODS, "llm-api-dc2-6b9e1a-p2", "llm-api-dc2-6b9e1a-p3"]
    assert pod_view(kc.fake, "llm-api-dc2-6b9e1a-p0")["labels"][PARTITION_LABEL] == "dc2-az-a"
    target = kc.drivers.kube(CONF)
    found, unreadable = sweep.find(target)
    assert unreadable == []
    assert {f.kind: f.fault_id for f in found} == ids
    assert {f.fault_id for f in found} == {r.fault.id for r in records(kc.ledger)}

    kc.ledger.path.unlink()  # the drill host and its ledger are gone
    dry = sweep.sweep(target, now=time.time(), dry_run=True, drivers=kc.drivers)
    assert len(dry.found) == 4 and dry.reverted == []
    assert len(marked(kc.fake)) > 0
    reverted: list[str] = []
    report = sweep.sweep(
        target, now=time.time(), drivers=kc.drivers, on_reverted=lambda f: reverted.append(f.kind)
    )
    assert sorted(reverted) == sorted(ids) and report.failed == []
    assert marked(kc.fake) == []
    after = snapshot()
    assert after["nodes"] == before["nodes"]
    assert after["failover"] == before["failover"]
    assert after["pods"] == {p: v for p, v in before["pods"].items() if p not in gone}
    assert after["policies"] == []
