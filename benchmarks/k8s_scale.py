"""Benchmark: Kubernetes faults at scale, on the local kwok control plane.

Two figures, each beside its peer:

1. **Zone outage at scale.** 1,000 kwok nodes (5 DCs x 4 zones x 50 nodes) and 10,000
   pods (a 2,000-replica Deployment per DC). ``zone_outage`` on one zone (50 nodes,
   ~500 pods): seconds from the first taint to the last pod evicted, and to the DC back
   at full ready strength. There is no peer tool that takes a zone out; the figure is
   reported on its own.
2. **Pod-kill throughput.** Pods deleted per second by chaosdrill's ``kill_pods`` (parallel
   deletes on one pooled client) against chaostoolkit-kubernetes'
   ``chaosk8s.pod.actions.terminate_pods`` (sequential deletes), same cluster, same
   count, grace period 0. Target: chaosdrill at least 2x the peer.

The cluster is started in a CHAOSDRILL_HOME of its own and always torn down. Prints one
JSON object; exit 0 target met, 1 missed, 2 could not measure.

    python -m benchmarks.k8s_scale [--quick]     # --quick: 100 nodes, 1,000 pods
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

__all__ = ["main"]

NAMESPACE = "bench"
KILL_TARGET_RATIO = 5.0  # issue 5: >= 5x chaostoolkit-kubernetes terminate_pods


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


def _measure(quick: bool) -> dict[str, Any]:
    from chaosdrill.kube import cluster
    from chaosdrill.targets import kubernetes as kube

    dcs, zones, per_zone = (5, 4, 5) if quick else (5, 4, 50)
    pods_per_dc = 200 if quick else 2000
    kill_count = 100 if quick else 500
    topo = cluster.Topology(dcs=dcs, zones_per_dc=zones, nodes_per_zone=per_zone)
    result: dict[str, Any] = {"nodes": dcs * zones * per_zone, "pods": dcs * pods_per_dc}

    start = time.monotonic()
    cluster.up(topo, lambda m: print(f"cluster: {m}", file=sys.stderr, flush=True), timeout_s=900)
    result["cluster_up_s"] = round(time.monotonic() - start, 1)
    conf = {
        "chaosdrill_target": "kubernetes",
        "kube_context": cluster.CONTEXT,
        "kubeconfig": str(cluster.kubeconfig_path()),
        "chaosdrill_allow_namespaces": [NAMESPACE],
    }
    cluster.kubectl(["create", "namespace", NAMESPACE])
    items = [_deployment(dc, pods_per_dc) for dc in topo.datacenters()]
    cluster.kubectl(
        ["apply", "-f", "-"], stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    result["pods_ready_s"] = round(_wait_ready(kube, conf, "app=bench", dcs * pods_per_dc, 1800), 1)

    zone = topo.zones("dc1")[0]
    outage = kube.zone_outage(zone, 900, conf)
    back = _wait_ready(kube, conf, "app=bench,chaosdrill.io/datacenter=dc1", pods_per_dc, 900)
    result["zone_outage"] = {
        "zone": zone,
        "nodes": len(outage["nodes"]),
        "taint_s": outage["tainted_s"],
        "evicted_s": outage["evicted_s"],
        "full_strength_after_s": round(outage["evicted_s"] + back, 1),
    }
    kube.zone_outage_rollback(zone, conf)

    # Pod kill: ours, then the peer, on two other DCs at full strength.
    t0 = time.monotonic()
    ours = kube.kill_pods("app=bench,chaosdrill.io/datacenter=dc2", NAMESPACE, kill_count, None, 0, conf)
    ours_s = time.monotonic() - t0
    from chaosk8s.pod.actions import terminate_pods

    t0 = time.monotonic()
    terminate_pods(
        label_selector="app=bench,chaosdrill.io/datacenter=dc3",
        ns=NAMESPACE,
        qty=kill_count,
        grace_period=0,
        secrets=kube.chaosk8s_secrets(conf),
    )
    peer_s = time.monotonic() - t0
    result["pod_kill"] = {
        "count": len(ours["killed"]),
        "chaosdrill_pods_per_s": round(len(ours["killed"]) / ours_s, 1),
        "chaosk8s_pods_per_s": round(kill_count / peer_s, 1),
        "ratio": round(peer_s / ours_s, 2),
        "target_ratio": KILL_TARGET_RATIO,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 nodes and 1,000 pods")
    args = parser.parse_args(argv)
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
            result = _measure(args.quick)
        except Exception as e:  # the benchmark could not measure: say why, exit 2
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
            return 2
        finally:
            cluster.down()
    result["machine"] = {"cpus": os.cpu_count(), "quick": args.quick}
    print(json.dumps(result, indent=2))
    return 0 if result["pod_kill"]["ratio"] >= KILL_TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
