"""``chaosdrill tools install [--kubernetes]``: find or build the pinned binaries."""

import argparse
from typing import Any

from chaosdrill import tools

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("tools", help="find or build the pinned binaries")
    tsub = p.add_subparsers(dest="tools_command", required=True)
    inst = tsub.add_parser("install", help="build missing tools into the per-user cache")
    inst.add_argument("--kubernetes", action="store_true", help="also the local Kubernetes control plane")
    inst.set_defaults(func=_install)


def _install(args: argparse.Namespace) -> int:
    def say(msg: str) -> None:
        print(f"tools: {msg}", flush=True)

    tools.ensure(tools.TOXIPROXY, say)
    tools.find_system_binary(
        "redis-server", "install it with `apt-get install redis-server` (make setup does)"
    )
    say("redis-server: found")
    for name in ("prometheus", "prometheus-alertmanager", "promtool"):  # the sandbox's monitoring
        tools.find_system_binary(
            name, "install it with `apt-get install prometheus prometheus-alertmanager` (make setup does)"
        )
        say(f"{name}: found")
    if args.kubernetes:
        # Lazy for start-up time: the Kubernetes build plan is read only with --kubernetes.
        from chaosdrill.kube import build

        build.install_all(say)
    return 0
