"""The fault TTL watchdog: reverts a fault when its ``ttl_s`` runs out, even if the runner died.

A TTL is a promise that outlives the process that made it. The runner can be
``kill -9``ed, lose its terminal, or hang; the fault must still go away on time. So the
watchdog is a separate, detached process (its own session, no parent-death signal) that
``chaosdrill.targets.inject`` starts on demand whenever a fault with a TTL is recorded.

There is at most one watchdog per ``CHAOSDRILL_HOME``: it holds an exclusive ``flock`` on
``<home>/watchdog.lock`` for its whole life, and :func:`ensure_running` starts a new one
only when that lock is free. The watchdog polls the ledger every ~0.5 s (waking early
when an expiry is due sooner), reverts the faults whose ``expires_at`` has passed through
:func:`chaosdrill.recovery.revert_faults` (so the ledger records ``how="ttl"``), and exits
once no active fault carries a TTL.

The exit is race-free with a concurrent ``inject``: ``inject`` records the fault *before*
calling :func:`ensure_running`, and the watchdog re-reads the ledger *after* releasing
its lock. Either the watchdog sees the new fault, or ``ensure_running`` sees the lock free.
"""

import argparse
import fcntl
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from chaosdrill import paths
from chaosdrill.ledger import Fault, Ledger

__all__ = ["GIVE_UP_AFTER_S", "POLL_S", "ensure_running", "is_running", "lock_file", "main", "serve"]

POLL_S = 0.5
# A fault whose revert keeps failing is retried for this long past its expiry, then left
# to `chaosdrill recover` (a watchdog must not become an immortal daemon).
GIVE_UP_AFTER_S = 600.0
LOCK_NAME = "watchdog.lock"
LOG_NAME = "watchdog.log"

log = logging.getLogger("chaosdrill.watchdog")
_spawned: list[subprocess.Popen[bytes]] = []


def lock_file(where: Path | None = None) -> Path:
    """The lock a watchdog holds, in the ledger's folder (the home, by default)."""
    return (where or paths.home()) / LOCK_NAME


def _try_lock(path: Path) -> IO[str] | None:
    """The lock file held open and exclusively locked, or None if someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - the caller owns the handle
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _unlock(fh: IO[str]) -> None:
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()


def is_running(where: Path | None = None) -> bool:
    """True while a watchdog holds the lock in ``where`` (default: this home)."""
    fh = _try_lock(lock_file(where))
    if fh is None:
        return True
    _unlock(fh)
    return False


def _reap() -> None:
    """Collect watchdogs this process started that have since exited (no zombies)."""
    _spawned[:] = [p for p in _spawned if p.poll() is None]


def ensure_running(ledger_path: Path | None = None) -> bool:
    """Start a detached watchdog for the ledger (default: this home's) unless one runs.

    Returns True if one was started. The lock lives beside the ledger, so the default
    ledger gets one watchdog per ``CHAOSDRILL_HOME``.
    """
    _reap()
    ledger_path = ledger_path or paths.ledger_file()
    where = ledger_path.parent
    held = _try_lock(lock_file(where))
    if held is None:
        return False
    home = paths.home()
    env = {**os.environ, "CHAOSDRILL_HOME": str(home)}
    argv = [sys.executable, "-m", "chaosdrill.watchdog", "--home", str(home), "--ledger", str(ledger_path)]
    try:
        with open(where / LOG_NAME, "ab") as out:
            # The child inherits the *locked* file description, so the lock never looks
            # free between this call and the watchdog's start: no second watchdog.
            proc = subprocess.Popen(
                [*argv, "--lock-fd", str(held.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(where),
                start_new_session=True,  # not in the runner's process group: Ctrl-C and kill -TERM -pgid miss it
                pass_fds=(held.fileno(),),
            )
    finally:
        held.close()  # close, not unlock: LOCK_UN would release the child's lock too
    _spawned.append(proc)
    log.info("started the fault TTL watchdog (pid %d) for %s", proc.pid, ledger_path)
    return True


def _ttl_faults(ledger: Ledger) -> list[Fault]:
    return [f for f in ledger.replay() if f.expires_at is not None]


def _tick(ledger: Ledger, now: float) -> list[Fault]:
    """Revert what has expired; returns the TTL faults still worth watching."""
    from chaosdrill.recovery import revert_faults  # imports every driver: keep `inject` light

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
    held: IO[str] | None
    if lock_fd is not None:
        held = open(lock_fd, "a+", encoding="utf-8", closefd=True)  # noqa: SIM115 - held for the whole loop
    else:
        held = _try_lock(lock_path)
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
        _unlock(held)
        # Re-read after releasing: a fault recorded meanwhile is ours, unless a new
        # watchdog (started because the lock was free) already took it over.
        if not _ttl_faults(ledger):
            log.info("watchdog %d: no fault with a TTL is active; exiting", os.getpid())
            return 0
        held = _try_lock(lock_path)
        if held is None:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaosdrill.watchdog", description=__doc__.split("\n")[0])
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
