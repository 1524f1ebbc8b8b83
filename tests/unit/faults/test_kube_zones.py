"""Zone faults on Kubernetes (zone_outage, zone_partition) through the engine, on the fake API
server: what the plan reads, what inject changes and marks, how a failed verification and
every undo path (remove, revert from the ledger, the mark sweep) put the cluster back."""

import dataclasses
import shutil
import time
from pathlib import Path

import pytest

from chaosdrill.drivers.kube.client import DC_LABEL
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied, PermanentError
from chaosdrill.faults import engine, sweep
from chaosdrill.faults.kinds import zones
from chaosdrill.faults.kinds.zones import OUTAGE_TAINT, PARTITION_LABEL
from chaosdrill.ledger import Ledger

from .kube_support import (
    CONF,
    CONTEXT,
    FOREIGN_TAINT,
    KUBECONFIG,
    NAMESPACE,
    Cluster,
    FakeDrivers,
    conf,
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

ZONE = "dc1-az-a"  # dc1-az-a-1 is cordoned, with a foreign taint, before any fault
NODES = ["dc1-az-a-0", "dc1-az-a-1"]
OUTAGE = {"zone": ZONE}
PART_ZONE = "dc2-az-a"
PARTITION = {"zone": PART_ZONE, "namespace": NAMESPACE}
POLICY = f"chaosdrill-partition-{PART_ZONE}"
LEGACY = Path(__file__).parent.parent / "data" / "ledger-v1.jsonl"


@pytest.fixture(autouse=True)
def watchdog_starts(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    return stub_watchdog(monkeypatch)


@pytest.fixture
def kc(tmp_path: Path) -> Cluster:
    return make_cluster(tmp_path)


def _nodes(kc: Cluster) -> dict[str, dict[str, object]]:
    return {
        name: node_view(kc.fake, name)
        for name in sorted(n["metadata"]["name"] for n in kc.fake.objects("nodes"))
    }


def _ours(zone: str) -> dict[str, str]:
    return {"key": OUTAGE_TAINT, "value": zone, "effect": "NoSchedule"}


# --------------------------------------------------------------------------- zone_outage


def test_outage_plan_reads_the_zone_nodes_and_writes_nothing(kc: Cluster) -> None:
    planned = kc.plan("zone_outage", OUTAGE)
    assert planned.key == f"zone_outage/{CONTEXT}/{ZONE}"
    assert planned.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "zone": ZONE,
        "nodes": {"dc1-az-a-0": False, "dc1-az-a-1": True},
    }
    assert planned.dcs == ("dc1",)
    assert planned.namespaces == (NAMESPACE,)
    assert [t.split(":")[0] for t in planned.touches] == [
        "node dc1-az-a-0",
        "node dc1-az-a-1",
        f"pod {NAMESPACE}/llm-api-dc1-5d8f7c-p0",
        f"pod {NAMESPACE}/llm-api-dc1-5d8f7c-p1",
        "1 pods of other namespaces stay on the zone (not evicted)",
    ]
    assert planned.details["evict"] == [
        f"{NAMESPACE}/llm-api-dc1-5d8f7c-p0",
        f"{NAMESPACE}/llm-api-dc1-5d8f7c-p1",
    ]
    assert kc.fake.requests and writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_outage_cordons_taints_and_marks_the_zone_and_waits_for_eviction(kc: Cluster) -> None:
    before = _nodes(kc)
    result = kc.inject("zone_outage", OUTAGE)
    fault_id = result["fault_id"]
    assert result["nodes"] == NODES

    after = _nodes(kc)
    assert after["dc1-az-a-0"]["unschedulable"] is True
    assert after["dc1-az-a-0"]["taints"] == [_ours(ZONE)]
    assert after["dc1-az-a-1"]["taints"] == [FOREIGN_TAINT, _ours(ZONE)]  # the foreign taint stays
    for name in NODES:
        mark = mark_on(kc.fake, "nodes", None, name, "zone_outage")
        assert mark is not None and mark.fault_id == fault_id
        assert mark.undo == {"zone": ZONE, "unschedulable": before[name]["unschedulable"]}
    untouched = {n: v for n, v in after.items() if n not in NODES}
    assert untouched == {n: v for n, v in before.items() if n not in NODES}

    # evicted through the Eviction API: the allowed namespace's pods on the zone, nothing else
    assert sorted(kc.controllers.evicted) == ["llm-api-dc1-5d8f7c-p0", "llm-api-dc1-5d8f7c-p1"]
    assert sorted(p for _m, p in writes(kc.fake) if p.endswith("/eviction")) == [
        f"/api/v1/namespaces/{NAMESPACE}/pods/llm-api-dc1-5d8f7c-p{i}/eviction" for i in (0, 1)
    ]
    assert (result["evicted"], result["refused_429"], result["namespaces"]) == (2, 0, [NAMESPACE])
    assert "batch-job-0" in pod_names(kc.fake, "batch")  # another namespace's pod stays
    assert "node-exporter-x1" in pod_names(kc.fake, "monitoring")

    record = kc.record()
    assert (record.fault.kind, record.fault.target, record.fault.id) == (
        "zone_outage",
        "kubernetes",
        fault_id,
    )
    assert record.reverted_at is None
    assert record.fault.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "zone": ZONE,
        "nodes": {"dc1-az-a-0": False, "dc1-az-a-1": True},
    }


def test_outage_whose_pods_a_budget_keeps_is_reported_and_undone(kc: Cluster) -> None:
    """A PodDisruptionBudget that allows no disruption answers 429 to every eviction: retried
    until ``wait_evicted_s`` runs out, then the fault fails naming the pods and the budget,
    and is undone."""
    before = _nodes(kc)
    kc.fake.add_pdb(NAMESPACE, "llm-api-dc1", {"app": "llm-api", DC_LABEL: "dc1"}, min_available=4, healthy=4)
    started = time.monotonic()
    with pytest.raises(FaultNotApplied) as caught:
        kc.inject("zone_outage", {**OUTAGE, "wait_evicted_s": 0.3})
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"2 pods still on {ZONE} after 0.3s" in message
    assert "PodDisruptionBudgets refused their eviction" in message
    assert "would violate the pod's disruption budget" in message
    assert "The disruption budget llm-api-dc1 needs 4 healthy pods and has 4 currently" in message
    assert pod_names(kc.fake, NAMESPACE).count("llm-api-dc1-5d8f7c-p0") == 1  # nothing evicted
    assert _nodes(kc) == before
    assert marked(kc.fake) == []
    record = kc.record()
    assert record.how == "injection-failed" and record.reverted_at is not None


def test_outage_retries_evictions_a_budget_refused_until_they_go_through(
    kc: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zones, "RETRY_S", 0.01)
    kc.fake.fail_next("POST", "/eviction", 429, times=3)  # the budget says "not now" three times
    result = kc.inject("zone_outage", {**OUTAGE, "wait_evicted_s": 10})
    assert result["refused_429"] == 3 and result["evicted"] == 2
    assert sorted(kc.controllers.evicted) == ["llm-api-dc1-5d8f7c-p0", "llm-api-dc1-5d8f7c-p1"]
    assert len([p for _m, p in writes(kc.fake) if p.endswith("/eviction")]) == 5


def test_outage_eviction_respects_a_budget_one_disruption_at_a_time(
    kc: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget allowing one disruption lets the first pod go and refuses the second (429),
    until the replacement is healthy again (played here by the test after a first refusal)."""
    monkeypatch.setattr(zones, "RETRY_S", 0.01)
    kc.fake.add_pdb(NAMESPACE, "llm-api-dc1", {"app": "llm-api", DC_LABEL: "dc1"}, min_available=3, healthy=4)
    evictions: list[int] = []

    def healthy_again(method: str, plural: str, obj: dict[str, object]) -> None:
        kc.controllers(method, plural, obj)
        if method == "EVICT":
            evictions.append(1)

    kc.fake.on_write = healthy_again
    real_evict = zones.evict_pod

    def evict(target: object, namespace: str, name: str) -> object:
        answer = real_evict(target, namespace, name)  # type: ignore[arg-type]
        if answer.outcome == "refused":  # the replacement becomes ready: one more disruption
            budget = kc.fake.get("poddisruptionbudgets", NAMESPACE, "llm-api-dc1")
            assert budget is not None
            budget["status"]["disruptionsAllowed"] = 1
            kc.fake.put("poddisruptionbudgets", budget)
        return answer

    monkeypatch.setattr(zones, "evict_pod", evict)
    result = kc.inject("zone_outage", {**OUTAGE, "wait_evicted_s": 10})
    assert result["evicted"] == 2 and result["refused_429"] == 1
    assert len(evictions) == 2


def test_outage_without_namespaces_is_refused_before_any_call(kc: Cluster) -> None:
    configuration = {k: v for k, v in CONF.items() if k != "chaosdrill_allow_namespaces"}
    with pytest.raises(BadInput, match="evicts only the pods of the namespaces it is given") as caught:
        kc.inject("zone_outage", OUTAGE, configuration)
    assert caught.value.field == "namespaces"
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_outage_namespaces_outside_the_allowlist_are_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match=r"'batch' is not in configuration\.chaosdrill_allow_namespaces"):
        kc.inject("zone_outage", {**OUTAGE, "namespaces": ["batch"]})
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_outage_with_named_namespaces_evicts_only_theirs(kc: Cluster) -> None:
    configuration = {k: v for k, v in CONF.items() if k != "chaosdrill_allow_namespaces"}
    result = kc.inject("zone_outage", {**OUTAGE, "namespaces": ["batch"]}, configuration)
    assert kc.controllers.evicted == ["batch-job-0"] and result["evicted"] == 1
    assert {"llm-api-dc1-5d8f7c-p0", "llm-api-dc1-5d8f7c-p1"} <= set(pod_names(kc.fake, NAMESPACE))
    with pytest.raises(BadInput, match="namespaces"):
        kc.inject("zone_outage", {"zone": "dc2-az-a", "namespaces": []}, configuration)


def test_outage_refused_half_way_is_undone_on_the_nodes_it_reached(kc: Cluster) -> None:
    before = _nodes(kc)
    kc.fake.fail_next("PATCH", "/nodes/dc1-az-a-1", 403)
    with pytest.raises(PermanentError, match="cordon and taint nodes: API server answered 403"):
        kc.inject("zone_outage", OUTAGE)
    assert ("PATCH", "/api/v1/nodes/dc1-az-a-0") in writes(kc.fake)
    assert _nodes(kc) == before
    assert marked(kc.fake) == []
    assert kc.record().how == "injection-failed"


def test_outage_remove_restores_each_node_exactly_and_is_idempotent(kc: Cluster) -> None:
    before = _nodes(kc)
    kc.inject("zone_outage", OUTAGE)
    assert kc.remove("zone_outage", OUTAGE) == {"ledger_entries_closed": 1, "zone": ZONE, "nodes": NODES}
    assert _nodes(kc) == before  # dc1-az-a-1 still cordoned, with its own taint
    assert marked(kc.fake) == []
    assert kc.record().how == "rollback"

    assert kc.remove("zone_outage", OUTAGE)["ledger_entries_closed"] == 0
    assert _nodes(kc) == before


def test_outage_revert_needs_only_the_ledger_record(kc: Cluster) -> None:
    before = _nodes(kc)
    kc.inject("zone_outage", OUTAGE)
    fault = kc.record().fault
    elsewhere = FakeDrivers(kc.fake)  # a recover run: no experiment, no configuration
    engine.revert(fault, elsewhere)
    assert _nodes(kc) == before
    assert marked(kc.fake) == []
    assert elsewhere.kube_calls == []
    assert elsewhere.kube_at_calls == [(KUBECONFIG, CONTEXT)]
    engine.revert(fault, elsewhere)  # twice is fine
    assert _nodes(kc) == before


def test_outage_revert_again_leaves_a_later_cordon_alone(kc: Cluster) -> None:
    kc.inject("zone_outage", OUTAGE)
    fault = kc.record().fault
    engine.revert(fault, kc.drivers)
    node = kc.fake.get("nodes", None, "dc1-az-a-0")
    assert node is not None
    node["spec"]["unschedulable"] = True  # an operator drains it for maintenance
    kc.fake.put("nodes", node)
    since = len(kc.fake.requests)
    engine.revert(fault, kc.drivers)  # the guardrail, recover or the watchdog, once more
    assert node_view(kc.fake, "dc1-az-a-0")["unschedulable"] is True
    assert writes(kc.fake, since) == []


def test_outage_marks_rebuild_the_ledger_undo_and_sweep_without_a_ledger(
    kc: Cluster, monkeypatch: pytest.MonkeyPatch, watchdog_starts: list[Path | None]
) -> None:
    monkeypatch.setenv("CHAOSDRILL_RUN_ID", "run-zones")
    before = _nodes(kc)
    fault_id = kc.inject("zone_outage", {**OUTAGE, "ttl_s": 120})["fault_id"]
    assert watchdog_starts == [kc.ledger.path]
    fault = kc.record().fault
    target = kc.drivers.kube(CONF)

    found, unreadable = sweep.find(target)
    assert unreadable == []
    [cluster_fault] = found
    assert (cluster_fault.kind, cluster_fault.fault_id, cluster_fault.run_id) == (
        "zone_outage",
        fault_id,
        "run-zones",
    )
    assert sorted((o.object_kind, o.name) for o in cluster_fault.objects) == [("Node", n) for n in NODES]
    assert fault.expires_at is not None and cluster_fault.expires_at == pytest.approx(fault.expires_at)
    state = sweep.undo_state(cluster_fault)
    assert state == {k: fault.undo[k] for k in ("zone", "nodes")}

    # expired_only honours the TTL the marks carry
    report = sweep.sweep(target, now=fault.expires_at - 1, expired_only=True, drivers=kc.drivers)
    assert (report.found, report.reverted) == ([], [])
    assert _nodes(kc) != before

    kc.ledger.path.unlink()  # the drill host is gone
    sweeper = FakeDrivers(kc.fake)
    report = sweep.sweep(target, now=fault.expires_at + 1, expired_only=True, drivers=sweeper)
    assert [f.fault_id for f in report.reverted] == [fault_id] and report.failed == []
    assert sweeper.kube_at_calls == [(KUBECONFIG, CONTEXT)]
    assert _nodes(kc) == before
    assert marked(kc.fake) == []
    assert sweep.find(target) == ([], [])


def test_outage_outside_the_allowed_dcs_touches_nothing(kc: Cluster) -> None:
    with pytest.raises(ActivityFailed, match=r"blast radius: dc='dc1' reaches \['dc1'\]"):
        kc.inject("zone_outage", OUTAGE, conf(chaosdrill_allow_dcs=["dc2"]))
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_outage_of_a_zone_with_no_nodes_touches_nothing(kc: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no node is labelled"):
        kc.inject("zone_outage", {"zone": "dc9-az-z"})
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_a_legacy_ledger_record_of_a_zone_outage_is_reverted(kc: Cluster, tmp_path: Path) -> None:
    copy = tmp_path / "ledger-v1.jsonl"
    shutil.copy(LEGACY, copy)
    [old] = [
        r.fault
        for r in Ledger(copy).history()
        if (r.fault.kind, r.fault.target) == ("zone_outage", "kubernetes")
    ]
    assert old.undo["nodes"] == {"n1": False, "n2": True} and "op" not in old.undo
    fault = dataclasses.replace(old, undo={**old.undo, "nodes": {"dc1-az-a-0": False, "dc1-az-a-1": True}})
    # What the code of that day left: both nodes cordoned and tainted, no marks.
    for name in NODES:
        node = kc.fake.get("nodes", None, name)
        assert node is not None
        node["spec"]["unschedulable"] = True
        node["spec"]["taints"] = [*(node["spec"].get("taints") or []), _ours(ZONE)]
        kc.fake.put("nodes", node)

    engine.revert(fault, kc.drivers)
    assert kc.drivers.kube_at_calls == [("/root/.kube/config", "kwok-chaosdrill")]
    assert node_view(kc.fake, "dc1-az-a-0")["unschedulable"] is False
    assert node_view(kc.fake, "dc1-az-a-0")["taints"] == []
    assert node_view(kc.fake, "dc1-az-a-1")["unschedulable"] is True
    assert node_view(kc.fake, "dc1-az-a-1")["taints"] == [FOREIGN_TAINT]


# --------------------------------------------------------------------------- zone_partition

PART_PODS = ["llm-api-dc2-6b9e1a-p0", "llm-api-dc2-6b9e1a-p1"]  # on dc2-az-a-0 and -1


def _partition_labels(kc: Cluster) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["metadata"]["labels"][PARTITION_LABEL]
        for p in kc.fake.objects("pods")
        if PARTITION_LABEL in (p["metadata"].get("labels") or {})
    }


def test_partition_plan_names_the_zone_pods_of_the_namespace_and_writes_nothing(kc: Cluster) -> None:
    kc.fake.add_pod("batch", "batch-job-1", labels={"app": "batch"}, node="dc2-az-a-0")  # other namespace
    planned = kc.plan("zone_partition", PARTITION)
    assert planned.key == f"zone_partition/{CONTEXT}/{NAMESPACE}/{PART_ZONE}"
    assert planned.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "zone": PART_ZONE,
        "namespace": NAMESPACE,
        "pods": PART_PODS,
    }
    assert planned.namespaces == (NAMESPACE,)
    assert planned.touches[0] == f"NetworkPolicy {NAMESPACE}/{POLICY}: create"
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_partition_creates_a_marked_policy_and_labels_the_zone_pods(kc: Cluster) -> None:
    before = {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)}
    fault_id = kc.inject("zone_partition", PARTITION)["fault_id"]

    policy = kc.fake.get("networkpolicies", NAMESPACE, POLICY)
    assert policy is not None
    same_zone = {"matchLabels": {PARTITION_LABEL: PART_ZONE}}
    assert policy["spec"] == {
        "podSelector": same_zone,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": same_zone}]}],
        "egress": [{"to": [{"podSelector": same_zone}]}],
    }
    mark = mark_on(kc.fake, "networkpolicies", NAMESPACE, POLICY, "zone_partition")
    assert mark is not None and mark.fault_id == fault_id
    assert mark.undo == {"zone": PART_ZONE, "namespace": NAMESPACE}
    assert _partition_labels(kc) == dict.fromkeys(PART_PODS, PART_ZONE)
    for name, view in before.items():  # nothing else changed on any pod
        labels = {k: v for k, v in pod_view(kc.fake, name)["labels"].items() if k != PARTITION_LABEL}
        assert labels == view["labels"]

    record = kc.record()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == (
        "zone_partition",
        "kubernetes",
        None,
    )
    assert record.fault.undo["pods"] == PART_PODS
    assert (record.fault.undo["kubeconfig"], record.fault.undo["kube_context"]) == (KUBECONFIG, CONTEXT)


def test_partition_whose_policy_cannot_be_read_back_is_undone(kc: Cluster) -> None:
    # The plan's check that no partition exists reads it once (404: none); the read-back fails too.
    kc.fake.fail_next("GET", f"/networkpolicies/{POLICY}", 404, times=2)
    with pytest.raises(FaultNotApplied, match="policy or pod labels"):
        kc.inject("zone_partition", PARTITION)
    assert kc.fake.objects("networkpolicies") == []
    assert _partition_labels(kc) == {}
    assert marked(kc.fake) == []
    assert kc.record().how == "injection-failed"


def test_partition_whose_policy_is_refused_takes_the_pod_labels_back(kc: Cluster) -> None:
    kc.fake.fail_next("POST", "/networkpolicies", 403)
    with pytest.raises(PermanentError, match="create NetworkPolicy: API server answered 403"):
        kc.inject("zone_partition", PARTITION)
    assert [m for m, p in writes(kc.fake) if p.endswith(PART_PODS[0])].count("PATCH") == 2  # label, unlabel
    assert _partition_labels(kc) == {}
    assert kc.record().how == "injection-failed"


def test_partition_remove_and_revert_heal_it(kc: Cluster) -> None:
    before = {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)}
    kc.inject("zone_partition", PARTITION)
    assert kc.remove("zone_partition", PARTITION) == {
        "ledger_entries_closed": 1,
        "zone": PART_ZONE,
        "namespace": NAMESPACE,
    }
    assert kc.fake.objects("networkpolicies") == []
    assert {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)} == before
    assert kc.record().how == "rollback"

    fault = kc.record().fault
    elsewhere = FakeDrivers(kc.fake)
    engine.revert(fault, elsewhere)  # once more, from the record alone: nothing left to do
    engine.revert(fault, elsewhere)
    assert elsewhere.kube_at_calls == [(KUBECONFIG, CONTEXT)] * 2
    assert kc.fake.objects("networkpolicies") == []
    assert {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)} == before


def test_partition_revert_from_the_ledger_alone(kc: Cluster) -> None:
    kc.inject("zone_partition", PARTITION)
    elsewhere = FakeDrivers(kc.fake)
    engine.revert(kc.record().fault, elsewhere)
    assert elsewhere.kube_at_calls == [(KUBECONFIG, CONTEXT)] and elsewhere.kube_calls == []
    assert kc.fake.objects("networkpolicies") == []
    assert _partition_labels(kc) == {}
    assert marked(kc.fake) == []


def test_partition_marks_rebuild_the_ledger_undo_and_sweep_without_a_ledger(kc: Cluster) -> None:
    fault_id = kc.inject("zone_partition", {**PARTITION, "ttl_s": 30})["fault_id"]
    fault = kc.record().fault
    target = kc.drivers.kube(CONF)
    [found] = sweep.find(target)[0]
    assert (found.kind, found.fault_id) == ("zone_partition", fault_id)
    assert [(o.object_kind, o.namespace, o.name) for o in found.objects] == [
        ("NetworkPolicy", NAMESPACE, POLICY)
    ]
    state = sweep.undo_state(found)
    assert {k: state[k] for k in ("zone", "namespace")} == {k: fault.undo[k] for k in ("zone", "namespace")}
    assert fault.expires_at is not None and found.expires_at == pytest.approx(fault.expires_at)

    assert sweep.sweep(target, now=time.time(), expired_only=True, drivers=kc.drivers).reverted == []
    assert kc.fake.get("networkpolicies", NAMESPACE, POLICY) is not None
    report = sweep.sweep(target, now=fault.expires_at + 1, expired_only=True, drivers=kc.drivers)
    assert [f.fault_id for f in report.reverted] == [fault_id]
    assert kc.fake.objects("networkpolicies") == []
    assert _partition_labels(kc) == {}  # found by their label: the marks do not list the pods
    assert marked(kc.fake) == []


def test_partition_outside_the_namespace_allowlist_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match=r"'batch' is not in configuration\.chaosdrill_allow_namespaces"):
        kc.inject("zone_partition", {"zone": ZONE, "namespace": "batch"})
    assert kc.fake.requests == []  # refused before the first call
    assert records(kc.ledger) == []


def test_partition_of_a_zone_without_pods_of_the_namespace_touches_nothing(kc: Cluster) -> None:
    for name in ("llm-api-dc2-6b9e1a-p2", "llm-api-dc2-6b9e1a-p3"):  # dc2-az-b's llm pods
        kc.fake.remove("pods", NAMESPACE, name)
    with pytest.raises(ActivityFailed, match="no live pods of namespace 'llm' run in zone dc2-az-b"):
        kc.inject("zone_partition", {"zone": "dc2-az-b", "namespace": NAMESPACE})
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_an_outage_of_a_zone_still_down_is_refused_touching_nothing(kc: Cluster) -> None:
    kc.inject("zone_outage", OUTAGE)
    since = len(kc.fake.requests)
    with pytest.raises(ActivityFailed, match=f"zone {ZONE} is already down"):
        kc.inject("zone_outage", OUTAGE)
    assert writes(kc.fake, since) == []
    assert len(kc.ledger.history()) == 1


def test_a_partition_not_yet_healed_is_refused_touching_nothing(kc: Cluster) -> None:
    kc.inject("zone_partition", PARTITION)
    since = len(kc.fake.requests)
    with pytest.raises(ActivityFailed, match="exists already"):
        kc.inject("zone_partition", PARTITION)
    assert writes(kc.fake, since) == []


def test_outage_plan_counts_the_pods_past_the_ones_it_lists(
    kc: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zones, "SHOWN", 1)
    planned = kc.plan("zone_outage", OUTAGE)
    pods = [t for t in planned.touches if t.startswith(("pod ", "... and"))]
    assert pods == [
        f"pod {NAMESPACE}/llm-api-dc1-5d8f7c-p0: evict (Eviction API, PodDisruptionBudgets respected)",
        f"... and 1 more pods of ['{NAMESPACE}']: evict",
    ]
    assert len(planned.details["evict"]) == 2  # the details keep them all
