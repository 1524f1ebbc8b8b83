"""Rollbacks on every exit path, on Kubernetes: SIGINT, SIGTERM and SIGKILL at each phase of a real ``chaos run``.

The experiment injects every Kubernetes fault type that leaves something to undo (a zone
outage's cordon and NoSchedule taint, a partition's NetworkPolicy and pod labels, a DC
failover's scale-to-zero and cell map, a CPU surge's usage annotations) plus a pod kill,
then pauses; its rollbacks start with a slow step. The test signals it:

- ``hypothesis``: inside the steady-state hypothesis, before any fault;
- ``method``: every fault is in place and the method is pausing;
- ``rollback``: chaos is inside its (slow) first rollback.

After SIGINT/SIGTERM the run itself must leave nothing behind. After SIGKILL the real
``chaosdrill recover`` must: at ``method`` from *another* home with no ledger (the drill
host is gone; the cluster's fault marks are all there is), at ``rollback`` from the
run's own ledger. Either way the cluster must be exactly as before: no cordon, no
taint, no NetworkPolicy, no partition label, every replica count, template and cell map
as it was, and no fault mark on any object.
"""

import signal
from pathlib import Path
from typing import Any

import pytest
from chaos_run_support import (
    LEDGER_CONTROL,
    action,
    journal_of,
    mark_step,
    py,
    reach_phase,
    recover,
    send,
    signal_cases,
    start,
    stop,
)
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, marked_objects, snapshot, wait_ready, zone_with_pods

from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]

DC1 = "app=llm-api,chaosdrill.io/datacenter=dc1"
DC2 = "app=llm-api,chaosdrill.io/datacenter=dc2"


def inject(partitioned: str) -> list[dict[str, Any]]:
    return [
        action("zone-outage", py("actions.zones", "zone_outage", zone="dc2-az-b", wait_evicted_s=60)),
        action("partition", py("actions.zones", "zone_partition", zone=partitioned, namespace=NAMESPACE)),
        action(
            "dc-failover",
            py(
                "actions.datacenters",
                "dc_failover",
                dc="dc3",
                namespace=NAMESPACE,
                routing_configmap="llm-routing",
            ),
        ),
        action("surge", py("actions.traffic", "surge", selector=DC1, namespace=NAMESPACE, usage_cpu="300m")),
        action("kill", py("actions.pods", "kill_pods", selector=DC2, count=1, namespace=NAMESPACE)),
    ]


def remove(partitioned: str) -> list[dict[str, Any]]:
    return [
        action("zone-back", py("actions.zones", "zone_outage_rollback", zone="dc2-az-b")),
        action("heal", py("actions.zones", "zone_partition_rollback", zone=partitioned, namespace=NAMESPACE)),
        action("dc-back", py("actions.datacenters", "dc_failover_rollback", dc="dc3", namespace=NAMESPACE)),
        action("end-surge", py("actions.traffic", "end_surge", selector=DC1, namespace=NAMESPACE)),
    ]


FAULT_KINDS = {"zone_outage", "zone_partition", "dc_failover", "surge", "pod_kill"}


def experiment(kc: Cluster, phase: str) -> dict[str, Any]:
    partitioned = zone_with_pods(kc, "dc1")
    return {
        "version": "1.0.0",
        "title": "kubernetes signal drill",
        "description": "every Kubernetes fault type, a pause, a slow rollback",
        "configuration": kc.configuration(),
        "controls": [LEDGER_CONTROL],
        "steady-state-hypothesis": {
            "title": "a slow, trivially true hypothesis",
            "probes": [
                {
                    "type": "probe",
                    "name": "before-any-fault",
                    "tolerance": True,
                    "provider": mark_step("hypothesis", 60 if phase == "hypothesis" else 0),
                }
            ],
        },
        "method": [
            *inject(partitioned),
            action("in-method", mark_step("method"), pauses={"after": 1 if phase == "rollback" else 60}),
        ],
        "rollbacks": [action("slow-first", mark_step("rollback", 60)), *remove(partitioned)],
    }


@signal_cases("hypothesis", "method", "rollback")
def test_signal_at_phase_leaves_nothing_on_the_cluster(
    service: Cluster, tmp_path: Path, sig: signal.Signals, phase: str
) -> None:
    before = snapshot(service)
    run = start(tmp_path, experiment(service, phase))
    try:
        reach_phase(run, phase, timeout_s=180)
        send(run, sig)
    finally:
        stop(run)
    ledger = default_ledger()
    mine = [r for r in ledger.history() if r.fault.pid == run.proc.pid]
    if phase == "hypothesis":
        assert mine == [] and "method" not in run.phases()
    else:
        assert {r.fault.kind for r in mine} == FAULT_KINDS, [r.to_dict() for r in mine]
    if sig is signal.SIGKILL:
        assert not run.journal.exists()
        if phase != "hypothesis":
            assert marked_objects(service), "kill -9 left the faults, and their marks, on the cluster"
        if phase == "method":
            elsewhere = {**service.env(), "CHAOSDRILL_HOME": str(tmp_path / "another-machine")}
            swept = recover(
                "--kube-context", service.context, "--kubeconfig", str(service.kubeconfig), env=elsewhere
            )
            assert swept.returncode == 0 and "reverted 4, failed 0" in swept.stdout, (
                swept.stdout + swept.stderr
            )
        first = recover()
        assert first.returncode == 0, first.stdout + first.stderr
        assert ledger.active() == []
        second = recover()
        assert second.returncode == 0 and "no active faults" in second.stdout, second.stdout
    else:
        journal = journal_of(run)
        # chaoslib turns SIGTERM inside an activity into that activity's failure: in the
        # hypothesis the run fails; in a rollback action chaos plays the remaining rollbacks.
        expected = {"hypothesis": "failed", "rollback": "completed"}.get(phase, "interrupted")
        if sig is not signal.SIGTERM:
            expected = "interrupted"
        assert journal["status"] == expected, run.output()
        records = ledger.of_run(journal["chaosdrill"]["run_id"])
        assert all(r.reverted_at is not None for r in records), [r.to_dict() for r in records]
        assert ledger.active() == []
    assert marked_objects(service) == []
    assert snapshot(service) == before
    wait_ready(service, "app=llm-api", SERVICE_PODS)
