"""The TTL watchdog's loop, in its own detached process (started by :mod:`chaosdrill.watchdog`).

It polls the ledger every ~0.5 s (waking early when an expiry is due sooner), reverts the
faults whose ``expires_at`` has passed through :func:`chaosdrill.recovery.revert_faults`
(so the ledger records ``how="ttl"``), and exits once no active fault carries a TTL.
"""

import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import IO

from chaosdrill import paths
from chaosdrill.ledger import Fault, Ledger
from chaosdrill.recovery import revert_faults
from chaosdrill.watchdog import GIVE_UP_AFTER_S, POLL_S, lock_file, try_lock, unlock

__all__ = ["main", "serve"]

log = logging.getLogger("chaosdrill.watchdog")


def _ttl_faults(ledger: Ledger) -> list[Fault]:
    return [f for f in ledger.replay() if f.expires_at is not None]


def _tick(ledger: Ledger, now: float) -> list[Fault]:
    """Revert what has expired; returns the TTL faults still worth watching."""
    watched = _ttl_faults(ledger)
    expired = [f for f in watched if f.expires_at is not None and f.expires_at <= now]
    reverted: set[str] = set()
    if expired:
        report = revert_faults(expired, how="ttl", ledger=ledger)
        for fault in report.reverted:
            reverted.add(fault.id)
            log.warning(
                "TTL of %.1fs ran out: reverted %s (%s)", fault.ttl_s or 0.0, fault.key, fault.description
            )
        for fault, err in report.failed:
            log.error("TTL revert of %s failed (will retry): %s", fault.key, err)
    return [
        f
        for f in watched
        if f.id not in reverted and (f.expires_at is None or now - f.expires_at < GIVE_UP_AFTER_S)
    ]


def serve(ledger_path: Path, poll_s: float = POLL_S, lock_fd: int | None = None) -> int:
    """The watchdog loop; returns 0 when nothing is left to watch, 1 if another watchdog runs.

    ``lock_fd`` is the already-locked lock file handed over by :func:`ensure_running`.
    """
    lock_path = lock_file(ledger_path.parent)
    held: IO[str] | None = (
        open(lock_fd, "a+", encoding="utf-8", closefd=True)  # noqa: SIM115 - held for the whole loop
        if lock_fd is not None
        else try_lock(lock_path)
    )
    if held is None:
        return 1
    ledger = Ledger(ledger_path)
    log.info("watchdog %d watching %s", os.getpid(), ledger.path)
    while True:
        watched = _tick(ledger, time.time())
        if watched:
            # Wake at the next expiry if it comes before the next poll: a TTL is a deadline.
            due = min((f.expires_at for f in watched if f.expires_at is not None), default=math.inf)
            time.sleep(max(0.01, min(poll_s, due - time.time())))
            continue
        unlock(held)
        # Re-read after releasing: a fault recorded meanwhile is ours, unless a new
        # watchdog (started because the lock was free) already took it over.
        if not _ttl_faults(ledger):
            log.info("watchdog %d: no fault with a TTL is active; exiting", os.getpid())
            return 0
        held = try_lock(lock_path)
        if held is None:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaosdrill.watchdog_process", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--home", type=Path, required=True, help="the CHAOSDRILL_HOME whose ledger to watch")
    parser.add_argument("--ledger", type=Path, help="the ledger file (default: the home's)")
    parser.add_argument("--poll-s", type=float, default=POLL_S)
    parser.add_argument(
        "--lock-fd", type=int, help="an inherited descriptor of the lock file, already locked"
    )
    args = parser.parse_args(argv)
    os.environ["CHAOSDRILL_HOME"] = str(args.home)  # drivers resolve the sandbox state through it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.ledger or paths.ledger_file(), args.poll_s, args.lock_fd)


if __name__ == "__main__":
    sys.exit(main())
