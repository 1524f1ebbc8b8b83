"""Fault marks: what a Kubernetes fault writes on an object, read back, and taken off again."""

import json

import pytest

from chaosdrill.drivers.kube.marks import (
    Mark,
    MarkedObject,
    MarkError,
    mark_key,
    read_mark,
    strip_mark,
    unmark_metadata,
)
from chaosdrill.faults.sweep import ClusterFault, undo_state

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def test_a_mark_round_trips_through_object_metadata() -> None:
    mark = Mark("zone_outage", "f1", run_id="r1", expires_at=1000.5).with_undo(unschedulable=True, zone="z")
    meta = mark.metadata()
    assert meta["labels"] == {"fault.chaosdrill.io/zone-outage": "f1"}
    assert read_mark("zone_outage", meta) == mark
    assert read_mark("dc_failover", meta) is None  # another kind's key


def test_expiry_is_judged_against_the_given_clock() -> None:
    mark = Mark("cpu_surge", "f", expires_at=100.0)
    assert not mark.expired(99.9)
    assert mark.expired(100.0)
    assert not Mark("cpu_surge", "f").expired(1e12)  # no TTL: never expires


@pytest.mark.parametrize(
    "annotation",
    ["not json", json.dumps({"undo": {}}), json.dumps({"id": 7}), json.dumps({"id": "x", "undo": []})],
)
def test_a_mangled_annotation_is_a_mark_error(annotation: str) -> None:
    key = mark_key("dc_failover")
    with pytest.raises(MarkError, match=key):
        read_mark("dc_failover", {"labels": {key: "x"}, "annotations": {key: annotation}})


def test_a_label_without_its_annotation_is_a_mark_error() -> None:
    key = mark_key("zone_partition")
    with pytest.raises(MarkError, match="no annotation"):
        read_mark("zone_partition", {"labels": {key: "f"}})


def test_unmarking_removes_only_that_kind() -> None:
    a, b = Mark("dc_failover", "a").metadata(), Mark("cpu_surge", "b").metadata()
    meta = {
        "labels": {**a["labels"], **b["labels"], "app": "x"},
        "annotations": {**a["annotations"], **b["annotations"]},
    }
    strip_mark(meta, "dc_failover")
    assert read_mark("dc_failover", meta) is None
    assert read_mark("cpu_surge", meta) is not None and meta["labels"]["app"] == "x"
    patch = unmark_metadata("cpu_surge")
    assert patch == {"labels": {mark_key("cpu_surge"): None}, "annotations": {mark_key("cpu_surge"): None}}


def _obj(kind: str, name: str, namespace: str = "llm", **undo: object) -> MarkedObject:
    return MarkedObject(kind, namespace, name, Mark("x", "f", expires_at=None).with_undo(**undo))


def test_revert_args_are_rebuilt_from_each_objects_undo_state() -> None:
    outage = ClusterFault(
        "zone_outage",
        "f",
        (_obj("Node", "n1", "", zone="z", unschedulable=True), _obj("Node", "n2", "", zone="z")),
    )
    assert undo_state(outage) == {"zone": "z", "nodes": {"n1": True, "n2": False}}
    failover = ClusterFault(
        "dc_failover",
        "f",
        (_obj("Deployment", "d1", replicas=4), _obj("ConfigMap", "routing", data={"cell-0": "dc3"})),
    )
    assert undo_state(failover) == {
        "namespace": "llm",
        "replicas": {"d1": 4},
        "routing_configmap": "routing",
        "routing": {"cell-0": "dc3"},
    }
    surge = ClusterFault(
        "cpu_surge",
        "f",
        (
            _obj("Deployment", "d1", template_usage="200m", selector="app=a", surged="1"),
            _obj("Pod", "p1", usage=None),
        ),
    )
    assert undo_state(surge) == {
        "namespace": "llm",
        "templates": {"d1": "200m"},
        "pods": {"p1": None},
        "selector": "app=a",
        "surged": "1",
    }
    with pytest.raises(MarkError, match="unknown fault kind"):
        undo_state(ClusterFault("melt_datacenter", "f", (_obj("Node", "n"),)))
