"""Benchmark: Kubernetes faults at scale, on the local kwok control plane.

Two figures:

1. **Zone outage at scale, as an experiment.** 1,000 kwok nodes (5 DCs x 4 zones x 50
   nodes) and 10,000 pods (a 2,000-replica Deployment per DC). The real ``chaos run`` CLI
   runs ``experiments/kubernetes-scale/zone-outage-at-scale.yaml`` against the cluster:
   one zone (50 nodes, ~500 pods) cordoned and tainted NoSchedule, its pods evicted, the DC
   back at full ready strength in its surviving zones, the zone restored by the rollback.
   Reported: the journal's status and the seconds from the action's start to the zone
   tainted, to the last pod evicted and to the DC confirmed at full strength. No peer tool
   takes a zone out; the figure stands on its own.
2. **Pod-kill throughput.** Pods deleted per second by chaosdrill's ``kill_pods`` against
   chaostoolkit-kubernetes' ``chaosk8s.pod.actions.terminate_pods``: same cluster, same
   count (500 of a DC's 2,000 pods), grace period 0, wall time of the whole call for each
   (list, deletes and, for chaosdrill, the list that checks the pods are gone). Two
   rounds, A B B A, each call on a DC of its own and starting with all 10,000 pods ready,
   so neither runs while the control plane is still replacing the other's victims.
   Pods per second over both rounds. Target: chaosdrill at least 5x the peer.

The cluster is started in a CHAOSDRILL_HOME of its own and always torn down. Prints one
JSON object; exit 0 both targets met, 1 one missed, 2 could not measure.

    python -m benchmarks.k8s_scale [--quick]     # --quick: 100 nodes, 1,000 pods
    python -m benchmarks.k8s_scale --workload-only [--quick]
        # only lay the bench workload on the cluster `chaosdrill cluster up` runs in this
        # CHAOSDRILL_HOME, for running the experiment by hand (docs/kubernetes.md)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["Size", "main"]

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "experiments" / "kubernetes-scale" / "zone-outage-at-scale.yaml"
NAMESPACE = "bench"
KILL_TARGET_RATIO = 5.0  # issue 4: >= 5x chaostoolkit-kubernetes terminate_pods
SETTLE_S = 3.0  # after every pod is ready, before a timed kill


@dataclass(frozen=True)
class Size:
    """The cluster and workload: the issue's 1,000 nodes / 10,000 pods, or --quick."""

    dcs: int
    zones_per_dc: int
    nodes_per_zone: int
    pods_per_dc: int
    kill_count: int
    within_s: int  # T of the experiment: each of its steps must finish within it

    @classmethod
    def of(cls, quick: bool) -> "Size":
        if quick:
            return cls(dcs=5, zones_per_dc=4, nodes_per_zone=5, pods_per_dc=200, kill_count=100, within_s=120)
        return cls(dcs=5, zones_per_dc=4, nodes_per_zone=50, pods_per_dc=2000, kill_count=500, within_s=300)

    @property
    def pods(self) -> int:
        return self.dcs * self.pods_per_dc

    @property
    def nodes(self) -> int:
        return self.dcs * self.zones_per_dc * self.nodes_per_zone


def _deployment(dc: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "bench", "chaosdrill.io/datacenter": dc}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"bench-{dc}", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "chaosdrill.io/datacenter",
                                                "operator": "In",
                                                "values": [dc],
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "containers": [
                        {"name": "c", "image": "bench:1", "resources": {"requests": {"cpu": "10m"}}}
                    ],
                },
            },
        },
    }


def _wait_ready(kube: Any, conf: dict[str, Any], selector: str, want: int, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if sum(d.ready for d in kube.deployments(NAMESPACE, selector, conf)) >= want:
            return time.monotonic() - start
        time.sleep(1)
    raise TimeoutError(f"{selector}: {want} ready replicas not reached within {timeout_s}s")


def _conf(cluster: Any) -> dict[str, Any]:
    return {
        "chaosdrill_target": "kubernetes",
        "kube_context": cluster.CONTEXT,
        "kubeconfig": str(cluster.kubeconfig_path()),
        "chaosdrill_allow_namespaces": [NAMESPACE],
    }


def _lay_workload(cluster: Any, size: Size, datacenters: list[str]) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    items = [namespace, *(_deployment(dc, size.pods_per_dc) for dc in datacenters)]
    cluster.kubectl(
        ["apply", "-f", "-"], stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def _experiment_env(cluster: Any, size: Size, zone: str) -> dict[str, str]:
    """What the experiment reads from the environment, for this cluster and size."""
    return {
        "KUBECONFIG": str(cluster.kubeconfig_path()),
        "CHAOSDRILL_KUBE_CONTEXT": cluster.CONTEXT,
        "CHAOSDRILL_SCALE_DC": zone.rsplit("-az-", 1)[0],
        "CHAOSDRILL_SCALE_ZONE": zone,
        "CHAOSDRILL_SCALE_REPLICAS": str(size.pods_per_dc),
        "CHAOSDRILL_SCALE_MIN_ZONES": str(size.zones_per_dc - 1),
        "CHAOSDRILL_SCALE_WITHIN_S": str(size.within_s),
    }


def _stamp(raw: str) -> float:
    return datetime.fromisoformat(raw).timestamp()


def _run_experiment(cluster: Any, size: Size, zone: str, workdir: Path) -> dict[str, Any]:
    """``chaos run`` the scale experiment; its status and times, read from its journal."""
    journal_path = workdir / "journal.json"
    chaos = Path(sys.executable).with_name("chaos")
    began = time.monotonic()
    proc = subprocess.run(
        [str(chaos), "--no-version-check", "run", "--journal-path", str(journal_path), str(EXPERIMENT)],
        cwd=workdir,
        env={**os.environ, **_experiment_env(cluster, size, zone)},
        capture_output=True,
        text=True,
        timeout=5 * size.within_s + 120,  # four polling steps of T each, plus chaos' own start
        check=False,
    )
    took = time.monotonic() - began
    if not journal_path.is_file():
        raise RuntimeError(
            f"chaos run wrote no journal (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
        )
    journal = json.loads(journal_path.read_text())
    steps = {r["activity"]["name"]: r for r in journal.get("run") or []}
    action = steps.get("zone-outage") or {}
    raw_out = action.get("output")
    out: dict[str, Any] = raw_out if isinstance(raw_out, dict) else {}
    back = steps.get("dc-back-at-full-strength") or {}
    full = None
    if action.get("start") and back.get("end") and back.get("status") == "succeeded":
        full = round(_stamp(back["end"]) - _stamp(action["start"]), 1)
    faults = (journal.get("chaosdrill") or {}).get("faults") or []
    return {
        "experiment": str(EXPERIMENT.relative_to(REPO)),
        "status": journal.get("status"),
        "deviated": journal.get("deviated"),
        "chaos_exit": proc.returncode,
        "failed_steps": sorted(n for n, r in steps.items() if r.get("status") != "succeeded"),
        "zone": zone,
        "nodes": len(out.get("nodes") or []),
        "within_s": size.within_s,
        "taint_s": out.get("tainted_s"),
        "evicted_s": out.get("evicted_s"),
        # From the action's start to the end of the probe that saw every replica ready:
        # an upper bound, to within one poll of that probe (a list of the DC's pods).
        "full_strength_after_s": full,
        "faults_reverted": bool(faults) and all(f.get("reverted_at") for f in faults),
        "run_s": round(took, 1),
    }


# Two rounds in A B B A order on four DCs at full strength, so a machine that gets busier
# or quieter during the run (it is shared) weighs on both tools alike.
KILL_ORDER = (("chaosdrill", "dc2"), ("chaosk8s", "dc3"), ("chaosk8s", "dc4"), ("chaosdrill", "dc5"))


def _kill_comparison(kube: Any, conf: dict[str, Any], size: Size) -> dict[str, Any]:
    from chaosk8s.pod.actions import terminate_pods

    from actions.pods import kill_pods
    from chaosdrill.drivers.kube.client import chaosk8s_secrets

    def ours(selector: str) -> tuple[int, dict[str, Any]]:
        out = kill_pods(selector, size.kill_count, None, NAMESPACE, 0, configuration=conf)
        # Where the call went: the list, the parallel DELETEs, the list proving them gone.
        return len(out["killed"]), {k: out.get(k) for k in ("list_s", "delete_s", "verify_s")}

    def peer(selector: str) -> tuple[int, dict[str, Any]]:
        out = terminate_pods(
            label_selector=selector,
            ns=NAMESPACE,
            qty=size.kill_count,
            grace_period=0,
            secrets=chaosk8s_secrets(conf),
        )
        return len(out), {}

    runs: list[dict[str, Any]] = []
    for tool, dc in KILL_ORDER:
        _wait_ready(kube, conf, "app=bench", size.pods, 600)  # every pod back: the control plane is idle
        time.sleep(SETTLE_S)
        load = os.getloadavg()[0]
        call = ours if tool == "chaosdrill" else peer
        t0 = time.monotonic()
        killed, phases = call(f"app=bench,chaosdrill.io/datacenter={dc}")
        took = time.monotonic() - t0
        runs.append(
            {
                "tool": tool,
                "dc": dc,
                "killed": killed,
                "s": round(took, 2),
                "load_1m": round(load, 2),
                **phases,
            }
        )

    def total(tool: str) -> tuple[int, float]:
        mine = [r for r in runs if r["tool"] == tool]
        return sum(r["killed"] for r in mine), sum(r["s"] for r in mine)

    (n_ours, s_ours), (n_peer, s_peer) = total("chaosdrill"), total("chaosk8s")
    return {
        "count": size.kill_count,
        "rounds": len(KILL_ORDER) // 2,
        "chaosdrill_pods_per_s": round(n_ours / s_ours, 1),
        "chaosk8s_pods_per_s": round(n_peer / s_peer, 1),
        "ratio": round((n_ours / s_ours) / (n_peer / s_peer), 2),
        "target_ratio": KILL_TARGET_RATIO,
        "runs": runs,
    }


def _measure(size: Size, workdir: Path) -> dict[str, Any]:
    from chaosdrill.drivers.kube import reads as kube
    from chaosdrill.kube import cluster

    topo = cluster.Topology(dcs=size.dcs, zones_per_dc=size.zones_per_dc, nodes_per_zone=size.nodes_per_zone)
    result: dict[str, Any] = {"nodes": size.nodes, "pods": size.pods}
    start = time.monotonic()
    cluster.up(topo, lambda m: print(f"cluster: {m}", file=sys.stderr, flush=True), timeout_s=900)
    result["cluster_up_s"] = round(time.monotonic() - start, 1)
    conf = _conf(cluster)
    _lay_workload(cluster, size, topo.datacenters())
    result["pods_ready_s"] = round(_wait_ready(kube, conf, "app=bench", size.pods, 1800), 1)
    result["zone_outage"] = _run_experiment(cluster, size, topo.zones("dc1")[0], workdir)
    result["pod_kill"] = _kill_comparison(kube, conf, size)
    return result


def _workload_only(size: Size) -> int:
    """Lay the bench workload on the running cluster of this CHAOSDRILL_HOME and wait for it."""
    from chaosdrill.drivers.kube import reads as kube
    from chaosdrill.kube import cluster

    if not cluster.status().running:
        print(json.dumps({"error": "no cluster runs in this CHAOSDRILL_HOME: `chaosdrill cluster up` first"}))
        return 2
    topo = cluster.Topology(dcs=size.dcs, zones_per_dc=size.zones_per_dc, nodes_per_zone=size.nodes_per_zone)
    _lay_workload(cluster, size, topo.datacenters())
    ready_s = _wait_ready(kube, _conf(cluster), "app=bench", size.pods, 1800)
    env = _experiment_env(cluster, size, topo.zones("dc1")[0])
    print(
        json.dumps(
            {"namespace": NAMESPACE, "pods": size.pods, "ready_s": round(ready_s, 1), "env": env}, indent=2
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 nodes and 1,000 pods")
    parser.add_argument(
        "--workload-only",
        action="store_true",
        help="only lay the workload (namespace bench, a Deployment per DC) on the running cluster",
    )
    args = parser.parse_args(argv)
    size = Size.of(args.quick)
    if args.workload_only:
        return _workload_only(size)
    with tempfile.TemporaryDirectory(prefix="chaosdrill-k8s-bench-") as home:
        os.environ["CHAOSDRILL_HOME"] = home
        from chaosdrill.kube import build, cluster

        # chaosk8s reads the kubeconfig from $KUBECONFIG only, and the kubernetes client
        # freezes that variable when first imported: set it before anything imports it.
        os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path())
        if build.binaries().missing():
            print(json.dumps({"error": "run `chaosdrill tools install --kubernetes` first"}))
            return 2
        try:
            result = _measure(size, Path(home))
        except Exception as e:  # the benchmark could not measure: say why, exit 2
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            return 2
        finally:
            cluster.down()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    zone = result["zone_outage"]
    zone_met = zone["status"] == "completed" and not zone["deviated"] and zone["faults_reverted"]
    return 0 if zone_met and result["pod_kill"]["ratio"] >= KILL_TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
