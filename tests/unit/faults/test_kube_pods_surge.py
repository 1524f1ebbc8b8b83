"""pod_kill and the CPU surge on Kubernetes, through the engine, on the fake API server.

A kill has nothing to undo (the ReplicaSet is the undo), so its ledger entry closes at once
and it leaves no marks; the surge changes kwok's usage annotation on the pods and on their
Deployments' templates, marks each, and must give back the exact previous values (an
absent annotation included)."""

import time
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied, TemporaryError
from chaosdrill.faults import engine, registry, sweep
from chaosdrill.faults.kinds.surge import USAGE_CPU

from .kube_support import (
    CONF,
    CONTEXT,
    KUBECONFIG,
    NAMESPACE,
    Cluster,
    FakeDrivers,
    conf,
    deployment_view,
    make_cluster,
    mark_on,
    marked,
    pod_names,
    pod_view,
    records,
    stub_watchdog,
    writes,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

SELECTOR = "app=llm-api"
KILL = {"selector": SELECTOR, "namespace": NAMESPACE}
DC1 = "app=llm-api,chaosdrill.io/datacenter=dc1"
DC2 = "app=llm-api,chaosdrill.io/datacenter=dc2"
DC1_PODS = [f"llm-api-dc1-5d8f7c-p{i}" for i in range(4)]
DC2_PODS = [f"llm-api-dc2-6b9e1a-p{i}" for i in range(4)]
SURGE = {"selector": DC1, "namespace": NAMESPACE, "usage_cpu": "900m"}


@pytest.fixture(autouse=True)
def watchdog_starts(monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    return stub_watchdog(monkeypatch)


@pytest.fixture
def kc(tmp_path: Path) -> Cluster:
    return make_cluster(tmp_path)


# --------------------------------------------------------------------------- pod_kill


def test_kill_plan_picks_live_victims_and_writes_nothing(kc: Cluster) -> None:
    kc.fake.add_pod(NAMESPACE, "llm-api-done", labels={"app": "llm-api"}, phase="Succeeded")
    planned = kc.plan("pod_kill", {**KILL, "count": 3})
    assert planned.key == f"pod_kill/{CONTEXT}/{NAMESPACE}/{SELECTOR}"
    assert planned.details["matched"] == 8  # the finished pod is not live
    victims = planned.details["pods"]
    assert len(victims) == 3 and set(victims) <= set(DC1_PODS + DC2_PODS)
    assert planned.share is not None and (planned.share.n, planned.share.total) == (3, 8)
    assert planned.namespaces == (NAMESPACE,)
    assert planned.undo == {"kubeconfig": KUBECONFIG, "kube_context": CONTEXT}
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_kill_deletes_the_pods_and_closes_its_entry_at_once(kc: Cluster) -> None:
    result = kc.inject("pod_kill", {**KILL, "percentage": 50})
    killed = result["killed"]
    assert len(killed) == 4 and result["matched"] == 8
    assert sorted(set(DC1_PODS + DC2_PODS) - set(killed)) == pod_names(kc.fake, NAMESPACE)
    assert sorted(p for m, p in writes(kc.fake)) == sorted(
        f"/api/v1/namespaces/{NAMESPACE}/pods/{n}" for n in killed
    )
    assert {m for m, _ in writes(kc.fake)} == {"DELETE"}
    assert marked(kc.fake) == []  # a kill leaves no mark: there is nothing to undo

    record = kc.record()
    assert (record.fault.kind, record.fault.target, record.fault.id) == (
        "pod_kill",
        "kubernetes",
        result["fault_id"],
    )
    assert record.how == "instant" and record.reverted_at is not None
    assert record.fault.undo == {"kubeconfig": KUBECONFIG, "kube_context": CONTEXT}
    assert records(kc.ledger)[0].fault.key == f"pod_kill/{CONTEXT}/{NAMESPACE}/{SELECTOR}"


def test_kill_defaults_to_one_pod(kc: Cluster) -> None:
    result = kc.inject("pod_kill", {"selector": DC2, "namespace": NAMESPACE})
    assert len(result["killed"]) == 1
    assert len(pod_names(kc.fake, NAMESPACE)) == 7


def test_kill_with_a_grace_period_leaves_the_pods_terminating(kc: Cluster) -> None:
    result = kc.inject(
        "pod_kill", {"selector": DC2, "namespace": NAMESPACE, "count": 2, "grace_period_s": 30}
    )
    for name in result["killed"]:
        pod = kc.fake.get("pods", NAMESPACE, name)
        assert pod is not None and pod["metadata"]["deletionTimestamp"]
        assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert kc.record().how == "instant"


def test_kill_whose_pods_outlive_the_delete_fails(kc: Cluster) -> None:
    def undead(method: str, plural: str, obj: dict[str, Any]) -> None:
        if method == "DELETE" and plural == "pods":
            kc.fake.put("pods", obj)  # back, with the same uid: the delete did not take

    kc.fake.on_write = undead
    with pytest.raises(FaultNotApplied, match="2 of 2 pods still live after delete"):
        kc.inject("pod_kill", {**KILL, "count": 2})
    assert pod_names(kc.fake, NAMESPACE) == sorted(DC1_PODS + DC2_PODS)
    record = kc.record()
    assert record.how == "injection-failed"  # not "instant": it failed


def test_kill_revert_and_remove_have_nothing_to_do(kc: Cluster) -> None:
    kc.inject("pod_kill", {**KILL, "count": 1})
    left = pod_names(kc.fake, NAMESPACE)
    since = len(kc.fake.requests)
    elsewhere = FakeDrivers(kc.fake)
    engine.revert(kc.record().fault, elsewhere)
    engine.revert(kc.record().fault, elsewhere)
    assert kc.remove("pod_kill", {**KILL, "count": 1}) == {"ledger_entries_closed": 0}
    assert kc.fake.requests[since:] == []
    assert elsewhere.kube_at_calls == []
    assert pod_names(kc.fake, NAMESPACE) == left


def test_kill_takes_no_ttl_and_leaves_nothing_to_sweep(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="takes no ttl_s"):
        kc.inject("pod_kill", {**KILL, "ttl_s": 60})
    kc.inject("pod_kill", KILL)
    assert sweep.find(kc.drivers.kube(CONF)) == ([], [])
    kind = registry.lookup("pod_kill", Target.KUBERNETES)
    assert kind.instant and kind.marks == ()
    with pytest.raises(NotImplementedError):
        kind.undo_from_marks(())


def test_kill_outside_the_namespace_allowlist_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="'batch' is not in"):
        kc.inject("pod_kill", {"selector": "app=batch", "namespace": "batch"})
    assert kc.fake.requests == []
    assert records(kc.ledger) == []
    assert "batch-job-0" in pod_names(kc.fake, "batch")


def test_kill_over_the_max_percentage_touches_nothing(kc: Cluster) -> None:
    with pytest.raises(ActivityFailed, match=r"touching 4 of 8 \(50%\) exceeds the allowed 25%"):
        kc.inject("pod_kill", {**KILL, "percentage": 50}, conf(chaosdrill_max_percentage=25))
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []
    assert len(pod_names(kc.fake, NAMESPACE)) == 8
    # at the cap itself it goes through
    assert len(kc.inject("pod_kill", {**KILL, "count": 2}, conf(chaosdrill_max_percentage=25))["killed"]) == 2


def test_kill_of_nothing_is_refused(kc: Cluster) -> None:
    with pytest.raises(ActivityFailed, match="no live pods match 'app=nothing'"):
        kc.inject("pod_kill", {"selector": "app=nothing", "namespace": NAMESPACE})
    assert records(kc.ledger) == []


# --------------------------------------------------------------------------- surge


def _usage(kc: Cluster, pods: list[str]) -> dict[str, str | None]:
    return {p: pod_view(kc.fake, p)["annotations"].get(USAGE_CPU) for p in pods}


def _state(kc: Cluster) -> dict[str, Any]:
    """Every Deployment and llm pod as the surge could have changed them."""
    return {
        "deployments": {d: deployment_view(kc.fake, d) for d in ("llm-api-dc1", "llm-api-dc2")},
        "pods": {p: pod_view(kc.fake, p) for p in pod_names(kc.fake, NAMESPACE)},
    }


def test_surge_plan_records_the_previous_usage_and_writes_nothing(kc: Cluster) -> None:
    planned = kc.plan("surge", SURGE)
    assert planned.key == f"cpu_surge/{CONTEXT}/{NAMESPACE}/{DC1}"
    assert planned.undo == {
        "kubeconfig": KUBECONFIG,
        "kube_context": CONTEXT,
        "namespace": NAMESPACE,
        "selector": DC1,
        "surged": "900m",
        "pods": {DC1_PODS[0]: "250m", DC1_PODS[1]: "100m", DC1_PODS[2]: "100m", DC1_PODS[3]: "100m"},
        "templates": {"llm-api-dc1": "100m"},
    }
    assert planned.touches[0] == f"Deployment {NAMESPACE}/llm-api-dc1: template CPU usage -> 900m"
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []


def test_surge_sets_and_marks_the_usage_on_pods_and_template(kc: Cluster) -> None:
    before = _state(kc)
    fault_id = kc.inject("surge", SURGE)["fault_id"]
    assert _usage(kc, DC1_PODS) == dict.fromkeys(DC1_PODS, "900m")
    for pod, was in zip(DC1_PODS, ("250m", "100m", "100m", "100m"), strict=True):
        mark = mark_on(kc.fake, "pods", NAMESPACE, pod, "cpu_surge")
        assert mark is not None and (mark.fault_id, mark.undo) == (fault_id, {"usage": was})
    dep = deployment_view(kc.fake, "llm-api-dc1")
    assert dep["template_annotations"] == {USAGE_CPU: "900m"}
    mark = mark_on(kc.fake, "deployments", NAMESPACE, "llm-api-dc1", "cpu_surge")
    assert mark is not None and mark.fault_id == fault_id
    assert mark.undo == {"template_usage": "100m", "selector": DC1, "surged": "900m"}
    # dc2 is not in the selector: untouched
    assert deployment_view(kc.fake, "llm-api-dc2") == before["deployments"]["llm-api-dc2"]
    assert {p: pod_view(kc.fake, p) for p in DC2_PODS} == {p: before["pods"][p] for p in DC2_PODS}

    record = kc.record()
    assert (record.fault.kind, record.fault.target, record.reverted_at) == ("surge", "kubernetes", None)
    assert (record.fault.undo["kubeconfig"], record.fault.undo["kube_context"]) == (KUBECONFIG, CONTEXT)
    assert record.fault.undo["templates"] == {"llm-api-dc1": "100m"}


def test_surge_whose_template_is_not_updated_is_undone(kc: Cluster) -> None:
    before = _state(kc)

    def pinning_webhook(method: str, plural: str, obj: dict[str, Any]) -> None:
        """A mutating webhook that puts the template's usage back as it was."""
        template = obj.get("spec", {}).get("template", {}).get("metadata", {})
        if plural == "deployments" and (template.get("annotations") or {}).get(USAGE_CPU) == "900m":
            template["annotations"][USAGE_CPU] = "100m"
            kc.fake.put("deployments", obj)

    kc.fake.on_write = pinning_webhook
    with pytest.raises(FaultNotApplied, match="deployment llm-api-dc1 template kept its old usage"):
        kc.inject("surge", SURGE)
    assert _state(kc) == before
    assert marked(kc.fake) == []
    assert kc.record().how == "injection-failed"


def test_surge_whose_deployment_patch_fails_is_undone_on_the_pods(kc: Cluster) -> None:
    before = _state(kc)
    kc.fake.fail_next("PATCH", "/deployments/llm-api-dc1", 503)
    with pytest.raises(TemporaryError, match="patch deployment llm-api-dc1: API server answered 503"):
        kc.inject("surge", SURGE)
    assert _state(kc) == before
    assert marked(kc.fake) == []
    assert kc.record().how == "injection-failed"


def test_surge_whose_pod_patch_fails_raises_a_mapped_error(kc: Cluster) -> None:
    before = _state(kc)
    kc.fake.fail_next("PATCH", f"/pods/{DC1_PODS[2]}", 500)
    try:
        with pytest.raises(TemporaryError):
            kc.inject("surge", SURGE)
    finally:  # either way the fault was undone
        assert _state(kc) == before
        assert kc.record().how == "injection-failed"


@pytest.mark.parametrize("selector", [DC1, DC2], ids=["usage-set", "usage-absent"])
def test_surge_remove_restores_the_exact_values_and_is_idempotent(kc: Cluster, selector: str) -> None:
    before = _state(kc)
    args = {**SURGE, "selector": selector}
    kc.inject("surge", args)
    assert _state(kc) != before
    assert kc.remove("surge", args) == {
        "ledger_entries_closed": 1,
        "namespace": NAMESPACE,
        "selector": selector,
    }
    assert _state(kc) == before  # dc2: no usage annotation anywhere, as before
    assert marked(kc.fake) == []
    assert kc.record().how == "rollback"
    assert kc.remove("surge", args)["ledger_entries_closed"] == 0
    assert _state(kc) == before


def test_surge_undo_cools_pods_born_during_the_surge_to_the_old_template_value(kc: Cluster) -> None:
    kc.inject("surge", SURGE)
    # The HPA scaled out: the new pod came from the surged template, with no mark.
    kc.fake.add_pod(
        NAMESPACE,
        "llm-api-dc1-5d8f7c-p9",
        labels={"app": "llm-api", "chaosdrill.io/datacenter": "dc1"},
        node="dc1-az-b-0",
        annotations={USAGE_CPU: "900m"},
    )
    kc.remove("surge", SURGE)
    assert _usage(kc, ["llm-api-dc1-5d8f7c-p9"]) == {"llm-api-dc1-5d8f7c-p9": "100m"}
    assert _usage(kc, DC1_PODS) == dict(zip(DC1_PODS, ("250m", "100m", "100m", "100m"), strict=True))


def test_surge_revert_from_the_ledger_alone(kc: Cluster) -> None:
    before = _state(kc)
    kc.inject("surge", SURGE)
    elsewhere = FakeDrivers(kc.fake)
    engine.revert(kc.record().fault, elsewhere)
    engine.revert(kc.record().fault, elsewhere)
    assert elsewhere.kube_calls == []
    assert elsewhere.kube_at_calls == [(KUBECONFIG, CONTEXT)] * 2
    assert _state(kc) == before
    assert marked(kc.fake) == []


def test_surge_marks_rebuild_the_ledger_undo_and_sweep_without_a_ledger(kc: Cluster) -> None:
    before = _state(kc)
    fault_id = kc.inject("surge", {**SURGE, "ttl_s": 300})["fault_id"]
    fault = kc.record().fault
    target = kc.drivers.kube(CONF)
    [found] = sweep.find(target)[0]
    assert (found.kind, found.fault_id) == ("cpu_surge", fault_id)
    assert sorted((o.object_kind, o.name) for o in found.objects) == [("Deployment", "llm-api-dc1")] + [
        ("Pod", p) for p in DC1_PODS
    ]
    state = sweep.undo_state(found)
    fields = ("namespace", "selector", "surged", "pods", "templates")
    assert {k: state[k] for k in fields} == {k: fault.undo[k] for k in fields}
    assert fault.expires_at is not None and found.expires_at == pytest.approx(fault.expires_at)

    assert sweep.sweep(target, now=time.time(), expired_only=True, drivers=kc.drivers).reverted == []
    assert _usage(kc, DC1_PODS) == dict.fromkeys(DC1_PODS, "900m")
    kc.ledger.path.unlink()
    report = sweep.sweep(target, now=fault.expires_at + 1, expired_only=True, drivers=kc.drivers)
    assert [f.fault_id for f in report.reverted] == [fault_id] and report.failed == []
    assert _state(kc) == before
    assert marked(kc.fake) == []


def test_surge_outside_the_namespace_allowlist_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="'batch' is not in"):
        kc.inject("surge", {**SURGE, "namespace": "batch"})
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_surge_without_a_usage_is_bad_input(kc: Cluster) -> None:
    with pytest.raises(BadInput, match="usage_cpu"):
        kc.inject("surge", {"selector": DC1, "namespace": NAMESPACE})
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_a_surge_on_pods_still_surged_is_refused_touching_nothing(kc: Cluster) -> None:
    kc.inject("surge", SURGE)
    since = len(kc.fake.requests)
    with pytest.raises(ActivityFailed, match="carry a CPU surge already"):
        kc.inject("surge", SURGE)
    assert writes(kc.fake, since) == []


# --------------------------------------------------------------------------- blast-radius holes (issue 11)


def test_kill_with_an_empty_selector_is_refused_before_any_call(kc: Cluster) -> None:
    with pytest.raises(BadInput, match=r"every pod of namespace 'llm'.*allow_all: true") as caught:
        kc.inject("pod_kill", {"selector": "", "namespace": NAMESPACE})
    assert caught.value.field == "selector"
    assert kc.fake.requests == []
    assert records(kc.ledger) == []


def test_kill_with_an_empty_selector_and_allow_all_kills_one(kc: Cluster) -> None:
    before = pod_names(kc.fake, NAMESPACE)
    result = kc.inject("pod_kill", {"selector": "", "namespace": NAMESPACE, "allow_all": True})
    assert len(result["killed"]) == 1 and result["matched"] == 8
    assert len(pod_names(kc.fake, NAMESPACE)) == len(before) - 1


def test_kill_selection_reaching_past_the_dc_allowlist_deletes_nothing(kc: Cluster) -> None:
    """Victims are chosen at random, so the whole selection must be inside the allowlist."""
    with pytest.raises(
        ActivityFailed, match=r"reaches \['dc2'\], outside the experiment's allowlist \['dc1'\]"
    ):
        kc.inject("pod_kill", {**KILL, "count": 1}, conf(chaosdrill_allow_dcs=["dc1"]))
    assert writes(kc.fake) == []
    assert records(kc.ledger) == []
    result = kc.inject(
        "pod_kill", {"selector": DC1, "namespace": NAMESPACE}, conf(chaosdrill_allow_dcs=["dc1"])
    )
    assert [p for p in result["killed"] if p not in DC1_PODS] == []


def test_kill_of_pods_without_a_dc_label_under_a_dc_allowlist_is_refused(kc: Cluster) -> None:
    kc.fake.add_pod(NAMESPACE, "stray-0", labels={"app": "stray"})
    with pytest.raises(ActivityFailed, match=r"no chaosdrill\.io/datacenter label"):
        kc.inject(
            "pod_kill", {"selector": "app=stray", "namespace": NAMESPACE}, conf(chaosdrill_allow_dcs=["dc1"])
        )
    assert writes(kc.fake) == []
    kc.inject("pod_kill", {"selector": "app=stray", "namespace": NAMESPACE})  # no allowlist: fine
    assert "stray-0" not in pod_names(kc.fake, NAMESPACE)
