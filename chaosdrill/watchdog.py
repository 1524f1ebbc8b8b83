"""The fault TTL watchdog: reverts a fault when its ``ttl_s`` runs out, even if the runner died.

A TTL is a promise that outlives the process that made it. The runner can be
``kill -9``ed, lose its terminal, or hang; the fault must still go away on time. So the
watchdog is a separate, detached process (its own session, no parent-death signal) that
``chaosdrill.faults.record_and_apply`` starts on demand whenever a fault with a TTL is recorded.

There is at most one watchdog per ``CHAOSDRILL_HOME``: it holds an exclusive ``flock`` on
``<home>/watchdog.lock`` for its whole life, and :func:`ensure_running` starts a new one
only when that lock is free. The watchdog polls the ledger every ~0.5 s (waking early
when an expiry is due sooner), reverts the faults whose ``expires_at`` has passed through
:func:`chaosdrill.recovery.revert_faults` (so the ledger records ``how="ttl"``), and exits
once no active fault carries a TTL.

This module only starts a watchdog and knows its lock; the watchdog's own loop is
:mod:`chaosdrill.watchdog_process`. They are apart because recording a fault (low in the
layers) starts a watchdog, while the loop reverts faults through every fault's undo (high).

The exit is race-free with a concurrent ``inject``: ``inject`` records the fault *before*
calling :func:`ensure_running`, and the watchdog re-reads the ledger *after* releasing
its lock. Either the watchdog sees the new fault, or ``ensure_running`` sees the lock free.
"""

import fcntl
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from chaosdrill import paths

__all__ = [
    "GIVE_UP_AFTER_S",
    "LOG_NAME",
    "POLL_S",
    "ensure_running",
    "is_running",
    "lock_file",
    "try_lock",
    "unlock",
]

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


def try_lock(path: Path) -> IO[str] | None:
    """The lock file held open and exclusively locked, or None if someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - the caller owns the handle
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def unlock(fh: IO[str]) -> None:
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()


def is_running(where: Path | None = None) -> bool:
    """True while a watchdog holds the lock in ``where`` (default: this home)."""
    fh = try_lock(lock_file(where))
    if fh is None:
        return True
    unlock(fh)
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
    held = try_lock(lock_file(where))
    if held is None:
        return False
    home = paths.home()
    env = {**os.environ, "CHAOSDRILL_HOME": str(home)}
    argv = [
        sys.executable,
        "-m",
        "chaosdrill.watchdog_process",
        "--home",
        str(home),
        "--ledger",
        str(ledger_path),
    ]
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
