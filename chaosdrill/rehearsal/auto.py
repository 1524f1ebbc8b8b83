"""``chaosdrill rehearse --auto``: a runbook's checks and dos with nobody at the keyboard, for CI.

Each step in order: its ``do`` runs (no confirmation), then its ``check``, retried once a
second until it passes or ``min(step.timeout_s, check_wait_s)`` runs out (a probe judges a
live system that takes a moment to settle). A step with neither is a person's step and is
recorded as ``manual``, which neither passes nor fails a rehearsal. Passing a step marked
``detected`` or ``mitigated`` is the time to detect or mitigate, unless Alertmanager saw one
of the runbook's triggers first (then that alert is the time to detect).

Status and exit code: ``passed`` (0) when every check and do passed; ``failed`` (1) when one
did not, or the rehearsal was cut short; ``refused`` (2) on bad input or a fault that could
not be injected, with nothing left injected.
"""

import logging
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ChaosException

from chaosdrill.errors import BadInput
from chaosdrill.rehearsal.lint import CommandTable, lint_runbook
from chaosdrill.rehearsal.record import Outcome, RehearsalRecord, Status
from chaosdrill.rehearsal.runbook import load_runbook
from chaosdrill.rehearsal.session import Aborted, Session, abort_on_signals, refused

__all__ = ["CHECK_WAIT_S", "RehearsalRecord", "auto_duration_s", "rehearse_auto"]

log = logging.getLogger("chaosdrill.rehearsal")

CHECK_WAIT_S = 15.0
MARGIN_S = 60.0


def auto_duration_s(step_limits: Collection[float]) -> float:
    """The bound of an automatic rehearsal: every step's wait, plus a margin for the probes."""
    return sum(step_limits) + MARGIN_S


def rehearse_auto(
    runbook: Path,
    *,
    out_dir: Path,
    configuration: Mapping[str, Any],
    check_wait_s: float = CHECK_WAIT_S,
    commands: CommandTable | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> RehearsalRecord:
    """Rehearse ``runbook`` without a person; the record is also written into ``out_dir``.

    ``configuration`` overrides the linked experiment's (the drill passes its SLO there).
    ``commands`` is the CLI's command table, for the lint of the runbook's command references.
    """
    try:
        book = load_runbook(runbook)
        problems = lint_runbook(book, commands)
        if problems:
            raise BadInput(problems[0].source, problems[0].field, "; ".join(p.message for p in problems))
    except BadInput as e:
        return refused(runbook, out_dir, "auto", e)
    limits = [min(s.timeout_s, check_wait_s) for s in book.steps]
    session = Session(
        book,
        out_dir=out_dir,
        configuration=configuration,
        mode="auto",
        max_duration_s=auto_duration_s(limits),
        say=say,
    )
    status, reason = Status.FAILED, ""
    with abort_on_signals():
        try:
            session.open()
            failed = _steps(session, limits)
            status = Status.FAILED if failed else Status.PASSED
            reason = f"failed: {', '.join(failed)}" if failed else ""
        except BadInput as e:
            status, reason = Status.REFUSED, str(e)
        except ChaosException as e:  # ours, and chaoslib's ActivityFailed (a refused blast radius)
            status, reason = (Status.REFUSED if session.record.fault_at is None else Status.FAILED), str(e)
        except Aborted as e:
            status, reason = Status.ABORTED, str(e)
        except KeyboardInterrupt:
            status, reason = Status.ABORTED, "Ctrl-C"
        finally:
            record = session.close(status, reason)
    return record


def _steps(session: Session, limits: list[float]) -> list[str]:
    failed: list[str] = []
    for step, limit in zip(session.runbook.steps, limits, strict=True):
        if session.out_of_time():
            raise Aborted(f"past the rehearsal's bound of {session.max_duration_s:.0f}s")
        session.say(f"step {step.name}")
        ok, ran = True, False
        if step.do is not None:
            ran = True
            ok = session.run_do(step)["ok"]
        if ok and step.check is not None:
            ran = True
            ok = session.run_check(step, retry_for_s=limit)["ok"]
        outcome = Outcome.MANUAL if not ran else (Outcome.PASSED if ok else Outcome.FAILED)
        session.say(f"  {outcome.value}")
        if outcome is Outcome.FAILED:
            failed.append(step.name)
        session.end_step(outcome)
    return failed
