"""Reverting faults from the ledger: the end-of-run sweep, the guardrail abort, and
``chaosdrill recover`` all go through :func:`revert_faults`.

While it runs, SIGINT and SIGTERM are deferred, not obeyed: a second Ctrl-C during
rollbacks must not abandon the faults still to be reverted. The deferred signal is
re-raised once the sweep is done, so the process still ends as the user asked.
"""

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from chaosdrill.faults import revert
from chaosdrill.ledger import Fault, Ledger, default_ledger

__all__ = ["RevertReport", "deferred_signals", "revert_faults"]

log = logging.getLogger("chaosdrill.recovery")


@dataclass
class RevertReport:
    reverted: list[Fault] = field(default_factory=list)
    failed: list[tuple[Fault, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reverted": [f.key for f in self.reverted],
            "failed": [{"key": f.key, "error": err} for f, err in self.failed],
        }


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM until the block ends (only possible on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    received: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        log.warning("signal %s received during rollback: finishing the rollback first", signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        signal.raise_signal(received[0])


def revert_faults(
    faults: Sequence[Fault],
    how: str,
    ledger: Ledger | None = None,
    on_reverted: Callable[[Fault], None] | None = None,
) -> RevertReport:
    """Revert the faults newest first (undo in reverse order), marking each in the ledger."""
    led = ledger or default_ledger()
    report = RevertReport()
    with deferred_signals():
        for fault in reversed(faults):
            try:
                revert(fault)
            except Exception as e:  # keep going: one stuck fault must not strand the others
                log.error("could not revert %s (%s): %s", fault.key, fault.description, e)
                report.failed.append((fault, f"{type(e).__name__}: {e}"))
                continue
            led.mark_reverted(fault.id, how=how)
            report.reverted.append(fault)
            if on_reverted is not None:
                on_reverted(fault)
    return report
