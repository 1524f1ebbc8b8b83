"""``chaosdrill sandbox up|down|status [--json]``: the reference service."""

import argparse
import json
from pathlib import Path
from typing import Any

from chaosdrill.sandbox import lifecycle

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("sandbox", help="the multi-DC, multi-AZ reference service on loopback")
    ssub = p.add_subparsers(dest="sandbox_command", required=True)
    up = ssub.add_parser("up", help="start every process (idempotent)")
    up.add_argument("--topology", type=Path, help="topology YAML (default: 3 DCs x 2 AZs x 2 replicas)")
    up.add_argument("--json", action="store_true")
    up.add_argument(
        "--no-monitoring",
        action="store_true",
        help="start no Prometheus or Alertmanager (they start by default)",
    )
    up.add_argument("--slo-target", type=float, help="the objective the alert rules judge by (default 0.995)")
    up.set_defaults(func=_up)
    down = ssub.add_parser("down", help="stop everything; leaves no process or proxy behind")
    down.set_defaults(func=_down)
    st = ssub.add_parser("status", help="what runs, and where")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)


def _print_status(as_json: bool) -> dict[str, Any]:
    st = lifecycle.status()
    if as_json:
        print(json.dumps(st, indent=2, sort_keys=True))
    elif not st["up"]:
        print("sandbox: down")
    else:
        print(f"sandbox: up ({st['processes']} processes)")
        print(f"  edge       {st['edge']}")
        print(f"  toxiproxy  {st['toxiproxy']}")
        print(f"  supervisor {st['supervisor']}")
        for dc, url in st["gateways"].items():
            print(f"  gateway    {dc}: {url}")
        for pool, n in st["replicas"].items():
            print(f"  replicas   {pool}: {n}")
        for name, url in (st.get("monitoring") or {}).items():
            print(f"  monitoring {name}: {url}")
        if st.get("system_file"):
            print(f"  system     {st['system_file']}")
    return st


def _up(args: argparse.Namespace) -> int:
    lifecycle.up(args.topology, monitoring=not args.no_monitoring, slo_target=args.slo_target)
    _print_status(args.json)
    return 0


def _down(_args: argparse.Namespace) -> int:
    killed = lifecycle.down()
    print(f"sandbox: down{f' (SIGKILLed {len(killed)} stragglers)' if killed else ''}")
    return 0


def _status(args: argparse.Namespace) -> int:
    st = _print_status(args.json)
    return 0 if st["up"] else 1
