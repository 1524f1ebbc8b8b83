"""The Kubernetes absorb probe: how long the surviving DCs took to have their replicas ready
after a DC was lost, from the pods' own Ready transition times (on the fake API server)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed
from fakes.kube_api import FakeKubeApi
from fault_support import inject_fault

from chaosdrill.drivers.kube import reads
from chaosdrill.drivers.kube.client import DC_LABEL, KubeTarget
from chaosdrill.drivers.kube.guards import allowed_namespaces
from probes import kubernetes as kprobes

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T = 1_900_000_000.0
CONF: dict[str, Any] = {
    "chaosdrill_target": "kubernetes",
    "kube_context": "fake-ctx",
    "chaosdrill_allow_namespaces": ["llm"],
}


def _pod(fake: FakeKubeApi, dc: str, i: int, ready_at: float | None) -> None:
    labels = {"app": "llm-api", DC_LABEL: dc}
    obj = fake.add_pod("llm", f"llm-api-{dc}-{i}", labels=labels, ready=ready_at is not None)
    if ready_at is not None:
        stamp = datetime.fromtimestamp(ready_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        obj["status"]["conditions"][0]["lastTransitionTime"] = stamp
        fake.put("pods", obj)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeKubeApi:
    """dc1 lost at T; dc2 runs 3 replicas ready long before; dc3's autoscaler wants 4, and
    its fourth became ready 7 s after the fault; a dc1 pod is still there, not ready."""
    fake = FakeKubeApi()
    api = fake.api_client()
    monkeypatch.setattr(
        reads, "connect", lambda conf: KubeTarget("fake", "fake-ctx", allowed_namespaces(conf), api)
    )
    for dc, replicas in (("dc1", 0), ("dc2", 3), ("dc3", 4)):
        fake.add_deployment("llm", f"llm-api-{dc}", replicas, labels={"app": "llm-api", DC_LABEL: dc})
    _pod(fake, "dc1", 0, None)
    for i in range(3):
        _pod(fake, "dc2", i, T - 100)
        _pod(fake, "dc3", i, T - 100)
    _pod(fake, "dc3", 3, T + 7)
    inject_fault(monkeypatch, tmp_path / "home", kind="dc_failover", description="dc1 lost", at=T)
    return fake


def test_absorb_is_timed_from_the_pods_ready_transitions(cluster: FakeKubeApi) -> None:
    out = kprobes.survivors_absorb_within("dc1", namespace="llm", within_s=0, configuration=CONF)
    assert out["mechanism"] == "absorb" and out["target_ready"] == 7 and out["ready"] == 7
    assert out["absorb_s"] == pytest.approx(7.0)
    planned = kprobes.survivors_absorb_within(
        "dc1", namespace="llm", target_ready=6, within_s=0, configuration=CONF
    )
    assert planned["absorb_s"] == 0.0, "N+1 capacity: enough were ready before the fault"


def test_survivors_short_of_the_target_fail_with_what_was_seen(cluster: FakeKubeApi) -> None:
    pod = cluster.get("pods", "llm", "llm-api-dc3-3")
    assert pod is not None
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    cluster.put("pods", pod)
    with pytest.raises(ActivityFailed, match="6 ready of 7"):
        kprobes.survivors_absorb_within("dc1", namespace="llm", within_s=0, configuration=CONF)
