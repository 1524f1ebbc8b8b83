"""Kubernetes faults carry their undo on the cluster: ``chaosdrill recover --kube-context`` finds
and reverts them with no ledger at all, TTLs hold through marks and the watchdog, and bad
arguments touch nothing."""

import os
import time
from pathlib import Path
from typing import Any

import pytest
from chaos_run_support import recover, wait_until
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, marked_objects, snapshot, wait_ready, zone_with_pods

from actions import datacenters, traffic, zones
from chaosdrill import watchdog
from chaosdrill.drivers.kube import client as kube_client
from chaosdrill.errors import BadInput
from chaosdrill.faults import sweep as kube_sweep
from chaosdrill.faults.kinds.surge import USAGE_CPU
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]

DC1 = "app=llm-api,chaosdrill.io/datacenter=dc1"


def _recover(kc: Cluster, home: Path, *args: str) -> tuple[int, str]:
    env = {**kc.env(), "CHAOSDRILL_HOME": str(home)}
    done = recover("--kube-context", kc.context, "--kubeconfig", str(kc.kubeconfig), *args, env=env)
    return done.returncode, done.stdout + done.stderr


def test_a_lost_ledger_is_no_loss_recover_sweeps_every_fault_kind_from_its_marks(
    service: Cluster, tmp_path: Path
) -> None:
    conf = service.configuration()
    before = snapshot(service)
    before_usage = {
        p["metadata"]["name"]: p["metadata"]["annotations"].get(USAGE_CPU)
        for p in service.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", DC1)["items"]
    }
    zones.zone_outage("dc2-az-a", 120, configuration=conf)
    zones.zone_partition(zone_with_pods(service, "dc1"), NAMESPACE, configuration=conf)
    datacenters.dc_failover("dc3", NAMESPACE, "llm-routing", 120, configuration=conf)
    traffic.surge(selector=DC1, namespace=NAMESPACE, usage_cpu="300m", configuration=conf)
    assert len(default_ledger().replay()) == 4
    target = kube_client.connect(conf)
    faults, unreadable = kube_sweep.find(target)
    assert unreadable == []
    assert sorted(f.kind for f in faults) == ["cpu_surge", "dc_failover", "zone_outage", "zone_partition"]
    assert {f.fault_id for f in faults} == {f.id for f in default_ledger().replay()}

    # The drill host is gone: recover from a home with no ledger.
    elsewhere = tmp_path / "another-machine"
    code, out = _recover(service, elsewhere, "--dry-run")
    assert code == 0 and out.count("would revert: [kubernetes marks]") == 4, out
    assert len(kube_sweep.find(target)[0]) == 4  # --dry-run touched nothing
    code, out = _recover(service, elsewhere)
    assert code == 0 and "reverted 4, failed 0" in out, out
    assert marked_objects(service) == []
    after = snapshot(service)
    assert after == before
    for pod in service.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", DC1)["items"]:
        name = pod["metadata"]["name"]
        if name in before_usage:
            assert pod["metadata"]["annotations"].get(USAGE_CPU) == before_usage[name]
    code, out = _recover(service, elsewhere)
    assert code == 0 and "no fault marks" in out, out

    # The original host's ledger still lists them: its recover is a harmless no-op revert.
    code, out = _recover(service, Path(os.environ["CHAOSDRILL_HOME"]))
    assert code == 0 and "reverted 4, failed 0" in out and "no fault marks" in out, out
    assert default_ledger().replay() == []
    assert snapshot(service) == before
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_recover_reverts_a_cluster_fault_and_closes_it_in_the_local_ledger(service: Cluster) -> None:
    conf = service.configuration()
    zones.zone_partition(zone_with_pods(service, "dc2"), NAMESPACE, configuration=conf)
    [fault] = default_ledger().replay()
    code, out = _recover(service, Path(os.environ["CHAOSDRILL_HOME"]))
    assert code == 0, out
    assert "reverted 1, failed 0" in out  # the ledger's sweep did it; the marks went with it
    assert "no fault marks" in out
    assert [r.how for r in default_ledger().history() if r.fault.id == fault.id] == ["recover"]
    assert service.kubectl_json("get", "networkpolicies", "-n", NAMESPACE)["items"] == []


def test_expired_only_sweeps_exactly_the_faults_whose_ttl_ran_out(service: Cluster, tmp_path: Path) -> None:
    conf = service.configuration()
    home = Path(os.environ["CHAOSDRILL_HOME"])
    short = zones.zone_partition(zone_with_pods(service, "dc3"), NAMESPACE, configuration=conf, ttl_s=6)
    traffic.surge(selector=DC1, namespace=NAMESPACE, usage_cpu="300m", configuration=conf, ttl_s=3600)
    # The drill host dies with its ledger and its watchdog: only the marks remain.
    (home / "ledger.jsonl").unlink()
    wait_until(lambda: not watchdog.is_running(home), 10, "the watchdog to find nothing and exit")
    elsewhere = tmp_path / "sweeper"
    code, out = _recover(service, elsewhere, "--expired-only")
    assert code == 0 and "no expired fault marks" in out, out
    assert service.kubectl_json("get", "networkpolicy", short["policy"], "-n", NAMESPACE)
    target = kube_client.connect(conf)
    [partition] = [f for f in kube_sweep.find(target)[0] if f.kind == "zone_partition"]
    assert partition.expires_at is not None
    time.sleep(max(0.0, partition.expires_at - time.time()) + 0.2)
    code, out = _recover(service, elsewhere, "--expired-only")
    assert code == 0 and "reverted 1, failed 0" in out and "zone_partition" in out, out
    assert service.kubectl_json("get", "networkpolicies", "-n", NAMESPACE)["items"] == []
    assert [f.kind for f in kube_sweep.find(target)[0]] == ["cpu_surge"]  # not expired: left alone
    code, out = _recover(service, elsewhere)
    assert code == 0 and "reverted 1, failed 0" in out, out
    assert marked_objects(service) == []
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_the_watchdog_reverts_a_kubernetes_fault_when_its_ttl_runs_out(service: Cluster) -> None:
    conf = service.configuration()
    zones.zone_partition(zone_with_pods(service, "dc1"), NAMESPACE, configuration=conf, ttl_s=2)
    assert service.kubectl_json("get", "networkpolicies", "-n", NAMESPACE)["items"]
    wait_until(lambda: default_ledger().replay() == [], 20, "the watchdog to revert the partition")
    assert [r.how for r in default_ledger().history()] == ["ttl"]
    assert service.kubectl_json("get", "networkpolicies", "-n", NAMESPACE)["items"] == []
    assert marked_objects(service) == []


@pytest.mark.parametrize("ttl", [0, -5, "soon"])
def test_a_bad_ttl_is_refused_before_anything_is_touched(service: Cluster, ttl: Any) -> None:
    with pytest.raises(BadInput, match="ttl_s"):
        zones.zone_partition("dc1-az-a", NAMESPACE, configuration=service.configuration(), ttl_s=ttl)
    assert default_ledger().replay() == []
    assert service.kubectl_json("get", "networkpolicies", "-n", NAMESPACE)["items"] == []


def test_recover_names_the_bad_flag_and_touches_nothing(service: Cluster, tmp_path: Path) -> None:
    env = {**service.env(), "CHAOSDRILL_HOME": str(tmp_path)}
    done = recover("--kube-context", "no-such-context", "--kubeconfig", str(service.kubeconfig), env=env)
    assert done.returncode == 2 and "--kube-context" in done.stderr and service.context in done.stderr
    done = recover("--kube-context", service.context, "--kubeconfig", str(tmp_path / "missing"), env=env)
    assert done.returncode == 2 and "--kubeconfig" in done.stderr and "does not exist" in done.stderr
    done = recover("--kubeconfig", str(service.kubeconfig), env=env)
    assert done.returncode == 2 and "needs --kube-context" in done.stderr
    assert "Traceback" not in done.stderr
