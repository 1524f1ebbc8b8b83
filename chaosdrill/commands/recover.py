"""``chaosdrill recover``: revert every fault still active, from the ledger and from the cluster.

The first thing to run after a drill crashed or was ``kill -9``ed. Idempotent: a fault
already gone reverts as a no-op and is marked reverted; a second run finds nothing.

- With no option it reverts what this machine's ledger holds as active.
- ``--kube-context`` also sweeps that cluster for chaosdrill's fault marks (labels and
  annotations left on every object a fault changed) and reverts those faults from the
  undo state the marks carry: this works from any machine, with no ledger at all.
- ``--expired-only`` keeps to faults whose TTL has run out: run it on a schedule (cron,
  a CI job, a Kubernetes CronJob) and Kubernetes TTLs hold even when the drill host is gone.

Exit 0 when nothing chosen is left active, 2 when some fault could not be reverted or a
mark could not be read.
"""

import argparse
import datetime as dt
import time
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.ledger import Fault, default_ledger
from chaosdrill.recovery import deferred_signals, revert_faults

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("recover", help="revert every fault still active (ledger, and cluster marks)")
    p.add_argument("--dry-run", action="store_true", help="list the active faults; touch nothing")
    p.add_argument(
        "--kube-context",
        metavar="NAME",
        help="also sweep this Kubernetes context for chaosdrill's fault marks and revert them",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="the kubeconfig holding --kube-context (default: $KUBECONFIG, then ~/.kube/config)",
    )
    p.add_argument(
        "--expired-only", action="store_true", help="only faults whose TTL has run out (for scheduled sweeps)"
    )
    p.set_defaults(func=_recover)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ttl_note(expires_at: float | None) -> str:
    return "" if expires_at is None else f", expires {_when(expires_at)}"


def _recover(args: argparse.Namespace) -> int:
    if args.kubeconfig and not args.kube_context:
        raise BadInput(
            "<argument>", "--kubeconfig", "needs --kube-context (chaosdrill never guesses the context)"
        )
    now = time.time()
    failed = _recover_ledger(args, now)
    if args.kube_context:
        failed += _recover_cluster(args, now)
    return 0 if not failed else 2


def _chosen(faults: list[Fault], expired_only: bool, now: float) -> list[Fault]:
    if not expired_only:
        return faults
    return [f for f in faults if f.expires_at is not None and f.expires_at <= now]


def _recover_ledger(args: argparse.Namespace, now: float) -> int:
    ledger = default_ledger()
    active = _chosen(ledger.replay(), args.expired_only, now)
    which = "expired faults" if args.expired_only else "active faults"
    if not active:
        print(f"recover: no {which} in {ledger.path}")
        return 0
    for f in active:
        print(
            f"  {'would revert' if args.dry_run else 'reverting'}: [{f.target} {f.kind}] {f.description} "
            f"(injected {_when(f.at)}, run {f.run_id or '-'}{_ttl_note(f.expires_at)})"
        )
    if args.dry_run:
        print(f"recover: {len(active)} {which} in the ledger; nothing touched (--dry-run)")
        return 0
    report = revert_faults(active, how="recover", ledger=ledger)
    for fault, err in report.failed:
        print(f"  FAILED: {fault.description}: {err}")
    print(f"recover: reverted {len(report.reverted)}, failed {len(report.failed)}")
    return len(report.failed)


def _recover_cluster(args: argparse.Namespace, now: float) -> int:
    # The Kubernetes client is imported only when a cluster is swept: plain recover stays light.
    from chaosdrill.drivers.kube.client import connect_at
    from chaosdrill.faults import sweep as kube_sweep

    try:
        target = connect_at(args.kubeconfig, args.kube_context)
    except BadInput as e:  # name the flag, not the experiment field
        flag = "--kubeconfig" if "kubeconfig" in e.field else "--kube-context"
        raise BadInput("<argument>", flag, e.problem) from e
    ledger = default_ledger()
    local = {f.id for f in ledger.replay()}

    def close_local(fault: kube_sweep.ClusterFault) -> None:
        if fault.fault_id in local:
            ledger.mark_reverted(fault.fault_id, how="recover-cluster")

    with deferred_signals():
        report = kube_sweep.sweep(
            target, now=now, expired_only=args.expired_only, dry_run=args.dry_run, on_reverted=close_local
        )
    where = f"context {args.kube_context}"
    for problem in report.unreadable:
        print(f"  UNREADABLE mark: {problem}")
    if not report.found:
        print(f"recover: no {'expired ' if args.expired_only else ''}fault marks on {where}")
        return len(report.unreadable)
    for f in report.found:
        print(
            f"  {'would revert' if args.dry_run else 'reverting'}: [kubernetes marks] {f.describe()} "
            f"(fault {f.fault_id}, run {f.run_id or '-'}{_ttl_note(f.expires_at)})"
        )
    if args.dry_run:
        print(f"recover: {len(report.found)} marked fault(s) on {where}; nothing touched (--dry-run)")
        return len(report.unreadable)
    for fault, err in report.failed:
        print(f"  FAILED: {fault.describe()}: {err}")
    print(f"recover: {where}: reverted {len(report.reverted)}, failed {len(report.failed)}")
    return len(report.failed) + len(report.unreadable)
