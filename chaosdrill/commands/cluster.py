"""``chaosdrill cluster up|down|status``: the local Kubernetes control plane (kwok)."""

import argparse
import json
from pathlib import Path
from typing import Any

from chaosdrill.kube import cluster

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("cluster", help="the local Kubernetes control plane (kwok)")
    csub = p.add_subparsers(dest="cluster_command", required=True)
    up = csub.add_parser("up", help="start the cluster and lay out its nodes (idempotent)")
    up.add_argument("--dcs", type=int, default=3, help="data centers (default 3)")
    up.add_argument("--zones-per-dc", type=int, default=2, help="zones per data center (default 2)")
    up.add_argument("--nodes-per-zone", type=int, default=2, help="kwok nodes per zone (default 2)")
    up.add_argument(
        "--apply",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="kubectl apply this file or folder once the cluster is up (repeatable), e.g. deploy/kubernetes",
    )
    up.add_argument("--timeout", type=float, default=180, help="seconds to wait for readiness")
    up.set_defaults(func=_up)
    down = csub.add_parser("down", help="stop every component and delete the cluster")
    down.set_defaults(func=_down)
    st = csub.add_parser("status", help="is the cluster running; exit 0 if so, 1 if not")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_status)


def _say(msg: str) -> None:
    print(f"cluster: {msg}", flush=True)


def _up(args: argparse.Namespace) -> int:
    topo = cluster.Topology(dcs=args.dcs, zones_per_dc=args.zones_per_dc, nodes_per_zone=args.nodes_per_zone)
    st = cluster.up(topo, _say, timeout_s=args.timeout)
    if args.apply:
        cluster.apply_manifests(args.apply, _say, timeout_s=args.timeout)
    _say(f"ready; use --kubeconfig {st.kubeconfig} --context {st.context}")
    return 0


def _down(args: argparse.Namespace) -> int:
    cluster.down(_say)
    return 0


def _status(args: argparse.Namespace) -> int:
    st = cluster.status()
    if args.json:
        print(json.dumps(st.to_json(), indent=2, sort_keys=True))
    else:
        state = "running" if st.running else "not running"
        print(f"cluster {cluster.CLUSTER_NAME}: {state}")
        for name, alive in st.components.items():
            print(f"  {name}: {'up' if alive else 'DOWN'}")
        print(f"  kubeconfig: {st.kubeconfig}\n  context: {st.context}")
    return 0 if st.running else 1
