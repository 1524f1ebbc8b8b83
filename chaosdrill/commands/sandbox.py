"""``chaosdrill sandbox up|down|status [--json]``: the reference service; ``chaosdrill sandbox
redis status|promote DC``: its session-state replication, for runbooks."""

import argparse
import json
from pathlib import Path
from typing import Any

from chaosdrill.drivers.sandbox import SandboxDriver
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
    redis = ssub.add_parser("redis", help="session-state replication: status, promote a replica")
    rsub = redis.add_subparsers(dest="redis_command", required=True)
    rst = rsub.add_parser("status", help="each DC's primary, replica, link and lag (bytes, seconds)")
    rst.add_argument("--json", action="store_true")
    rst.set_defaults(func=_redis_status)
    promote = rsub.add_parser(
        "promote", help="promote the replica of DC's session state; the gateways follow at once"
    )
    promote.add_argument("dc", help="the DC whose state to promote (its replica lives in the next DC)")
    promote.add_argument("--to", help="the DC whose member becomes primary (default: the replica's)")
    promote.add_argument("--json", action="store_true")
    promote.set_defaults(func=_redis_promote)


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


def _print_replication(stores: dict[str, Any]) -> None:
    for owner, s in sorted(stores.items()):
        members = s["members"]
        primary, replica = s["primary"], s.get("replica")
        p = members.get(primary, {})
        line = f"{owner}: primary {primary} ({p.get('role')}, offset {p.get('offset')})"
        if replica:
            r = members.get(replica, {})
            lag_b = "-" if s.get("lag_bytes") is None else f"{s['lag_bytes']} B"
            lag_s = "-" if s.get("lag_s") is None else f"{s['lag_s']:.3f} s"
            state = "in sync" if s.get("in_sync") else "NOT in sync"
            line += (
                f"  replica {replica} ({r.get('role')}, link {r.get('link') or '-'}, offset {r.get('offset')})"
                f"  lag {lag_b} / {lag_s}  {state}"
            )
        print(line)


def _redis_status(args: argparse.Namespace) -> int:
    stores = SandboxDriver.running().replication()
    if args.json:
        print(json.dumps(stores, indent=2, sort_keys=True))
    else:
        _print_replication(stores)
    return 0 if all(s.get("in_sync") for s in stores.values()) else 1


def _redis_promote(args: argparse.Namespace) -> int:
    sandbox = SandboxDriver.running()
    sandbox.known_dc(args.dc)
    body = {"dc": args.dc, "reason": "operator"}
    if args.to:
        sandbox.known_dc(args.to)
        body["to"] = args.to
    out = sandbox.post(f"{sandbox.supervisor_api}/sessions/promote", body)
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    event = out.get("event") or {}
    if out.get("changed"):
        how = "switchover, nothing acknowledged lost" if event.get("planned") else "promotion of a replica"
        print(f"{args.dc}: primary {event.get('from')} -> {out['primary']} ({how}, {event.get('took_s')} s)")
    else:
        print(f"{args.dc}: primary already in {out['primary']}")
    _print_replication(out.get("replication") or {})
    return 0
