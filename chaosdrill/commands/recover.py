"""``chaosdrill recover [--dry-run]``: revert every fault the ledger still holds as active.

The first thing to run after a drill crashed or was ``kill -9``ed. Idempotent: a fault
already gone reverts as a no-op and is marked reverted; a second run finds nothing.
Exit 0 when nothing is left active, 2 when some fault could not be reverted.
"""

import argparse
import datetime as dt
from typing import Any

from chaosdrill.ledger import default_ledger
from chaosdrill.recovery import revert_faults

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("recover", help="revert every fault the ledger still holds as active")
    p.add_argument("--dry-run", action="store_true", help="list the active faults; touch nothing")
    p.set_defaults(func=_recover)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _recover(args: argparse.Namespace) -> int:
    ledger = default_ledger()
    active = ledger.replay()
    if not active:
        print(f"recover: no active faults in {ledger.path}")
        return 0
    for f in active:
        print(
            f"  {'would revert' if args.dry_run else 'reverting'}: [{f.driver}] {f.description} "
            f"(injected {_when(f.at)}, run {f.run_id or '-'})"
        )
    if args.dry_run:
        print(f"recover: {len(active)} active fault(s); nothing touched (--dry-run)")
        return 0
    report = revert_faults(active, how="recover", ledger=ledger)
    for fault, err in report.failed:
        print(f"  FAILED: {fault.description}: {err}")
    print(f"recover: reverted {len(report.reverted)}, failed {len(report.failed)}")
    return 0 if not report.failed else 2
