"""The scale experiment (experiments/kubernetes-scale/), run with `chaos run` on the session cluster.

The benchmark runs it at 1,000 nodes / 10,000 pods; here it runs at the session cluster's
size (one DC's bench Deployment over 2 zones) with the same environment variables the
benchmark sets, built by the benchmark's own helpers, so a broken experiment file or a
benchmark that feeds it wrong values fails in `make test`, not only in `make bench`.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bench_support import load_benchmark
from chaos_run_support import chaos_run
from k8s_support import Cluster

from chaosdrill.faults.kinds.zones import OUTAGE_TAINT
from chaosdrill.ledger import Ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.experiments, pytest.mark.slow, pytest.mark.timeout(600)]

REPLICAS = 12
ZONE = "dc1-az-a"


class _ClusterPaths:
    """What the benchmark's helpers read from ``chaosdrill.kube.cluster``, for the session cluster."""

    def __init__(self, kc: Cluster) -> None:
        self.CONTEXT = kc.context
        self._kubeconfig = kc.kubeconfig

    def kubeconfig_path(self) -> Path:
        return self._kubeconfig


@pytest.fixture
def bench_workload(service: Cluster) -> Iterator[ModuleType]:
    """The bench Deployment of dc1 at full strength in namespace bench; removed afterwards."""
    bench = load_benchmark("k8s_scale")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bench.NAMESPACE}}
    items = [namespace, bench._deployment("dc1", REPLICAS)]
    service.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    try:
        yield bench
    finally:
        service.kubectl("delete", "namespace", bench.NAMESPACE, "--wait=false")


def test_scale_experiment_completes_and_restores_the_zone(
    service: Cluster, bench_workload: ModuleType, tmp_path: Path
) -> None:
    size = bench_workload.Size(
        dcs=1, zones_per_dc=2, nodes_per_zone=2, pods_per_dc=REPLICAS, kill_count=1, within_s=120
    )
    env: dict[str, Any] = {
        **service.env(),
        "CHAOSDRILL_HOME": str(tmp_path / "home"),
        **bench_workload._experiment_env(_ClusterPaths(service), size, ZONE),
    }
    env.pop("CHAOSDRILL_RUN_ID", None)
    assert env["CHAOSDRILL_SCALE_DC"] == "dc1" and env["CHAOSDRILL_SCALE_MIN_ZONES"] == "1"
    run = chaos_run(bench_workload.EXPERIMENT, tmp_path, env, timeout_s=560)
    result = run.journal
    assert (result["status"], result["deviated"], run.proc.returncode) == ("completed", False, 0), run.log
    steps = {r["activity"]["name"]: r for r in result["run"]}
    outage = steps["zone-outage"]["output"]
    assert outage["zone"] == ZONE and len(outage["nodes"]) == 2
    assert all(r["status"] == "succeeded" for r in steps.values())
    assert Ledger(tmp_path / "home" / "ledger.jsonl").active() == []
    # The rollback left no node of the zone cordoned or carrying the outage taint.
    nodes = service.kubectl_json("get", "nodes", "-l", f"topology.kubernetes.io/zone={ZONE}")["items"]
    assert [n["metadata"]["name"] for n in nodes if n["spec"].get("unschedulable")] == []
    ours = [
        n["metadata"]["name"]
        for n in nodes
        for t in n["spec"].get("taints") or []
        if t["key"] == OUTAGE_TAINT
    ]
    assert ours == []
