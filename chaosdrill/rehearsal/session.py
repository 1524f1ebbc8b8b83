"""One rehearsal from start to record: what the screen and ``--auto`` share.

The session owns the scenario (load + fault), the live SLO, the alert watch and the record.
It is opened once and always closed: :meth:`Session.close` reverts the faults through the
ledger (the scenario's stop), stops the load, writes the record, and checks the ledger holds
nothing of this run as active any more. While it runs, SIGTERM and the guardrail's SIGUSR1
become :class:`Aborted` (Ctrl-C is Python's ``KeyboardInterrupt``), so every exit path goes
through the same close; while it closes, a further Ctrl-C or SIGTERM is noted and ignored.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from chaosdrill import runctx
from chaosdrill.errors import ActivityFailed, BadInput, ChaosdrillError
from chaosdrill.rehearsal.live import AlertWatch, LiveSlo
from chaosdrill.rehearsal.record import Note, Outcome, RehearsalRecord, Status, StepRecord, write_record
from chaosdrill.rehearsal.runbook import Mark, ProbeRef, Runbook, Step
from chaosdrill.rehearsal.scenario import Scenario, call_activity

__all__ = ["Aborted", "Session", "abort_on_signals", "refused", "verdict_of"]

log = logging.getLogger("chaosdrill.rehearsal")


class Aborted(Exception):
    """The rehearsal was cut short: SIGTERM, the guardrail, the on-call's q, the time bound."""


@contextmanager
def abort_on_signals() -> Iterator[None]:
    """SIGTERM and SIGUSR1 (the guardrail's stop) raise :class:`Aborted` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: FrameType | None) -> None:
        reason = "the guardrail stopped it (error budget burn)" if signum == signal.SIGUSR1 else "SIGTERM"
        raise Aborted(reason)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _shielded() -> Iterator[None]:
    """While closing: Ctrl-C and SIGTERM are logged, not obeyed (the faults come first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        log.warning("signal %s while rolling back: finishing the rollback first", signum)

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    previous = {sig: signal.signal(sig, note) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def verdict_of(result: Any) -> bool:
    """A probe's result as pass/fail: ``False``, or a mapping with a false ``ok``, fails."""
    if result is False:
        return False
    if isinstance(result, Mapping) and "ok" in result:
        return bool(result["ok"])
    return True


def _short(value: Any, limit: int = 400) -> Any:
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."


class Session:
    """A rehearsal of ``runbook`` writing into ``out_dir``; :meth:`open`, steps, :meth:`close`."""

    def __init__(
        self,
        runbook: Runbook,
        *,
        out_dir: Path,
        configuration: Mapping[str, Any],
        mode: str,
        max_duration_s: float,
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.runbook = runbook
        self.out_dir = out_dir
        self.max_duration_s = max_duration_s
        self.say = say
        self.scenario = Scenario(runbook, out_dir, max_duration_s, overrides=configuration)
        self.record = RehearsalRecord(
            runbook=str(runbook.source),
            title=runbook.title,
            mode=mode,
            status=Status.REFUSED,
            started_at=time.time(),
            steps=[StepRecord(s.name, s.timeout_s) for s in runbook.steps],
            experiment=str(runbook.experiment) if runbook.experiment else None,
        )
        self.current = 0
        self.step_began = 0.0
        self.slo = LiveSlo(None)
        self.alerts: AlertWatch | None = None
        self.deadline = 0.0

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Check everything, then start load, guardrail and fault. BadInput: nothing started."""
        self.scenario.prepare()
        self.say(
            f"rehearse: starting load and injecting {', '.join(f.qualified_name for f in self.scenario.faults)}"
        )
        self.scenario.start()
        if self.scenario.fault_at is None:
            raise ChaosdrillError("the fault action returned, but the ledger holds no fault of this run")
        self.record.fault_at = self.scenario.fault_at
        self.record.faults = [f"{f.qualified_name} {dict(f.arguments)}" for f in self.scenario.faults]
        self.deadline = time.time() + self.max_duration_s
        self.slo = LiveSlo(runctx.measurements_path())
        self.alerts = AlertWatch(self.scenario.configuration, self.runbook.triggers)
        self.alerts.fault_at = self.scenario.fault_at
        self.alerts.start()
        self.begin(0)

    def close(self, status: Status, reason: str = "") -> RehearsalRecord:
        """Roll back (always), then write the record. Safe after a failed :meth:`open`."""
        record = self.record
        with _shielded():
            if self.alerts is not None:
                self.alerts.stop()
            try:
                record.rollback = self.scenario.stop()
            finally:
                self.slo_now_into_record()
                self.slo.close()
                record.left_active = self.scenario.active_faults()
        record.status = status
        record.reason = reason
        record.ended_at = time.time()
        self._times()
        if record.left_active:
            record.reason = (reason + "; " if reason else "") + "faults left active: run `chaosdrill recover`"
        write_record(record, self.out_dir)
        return record

    def slo_now_into_record(self) -> None:
        try:
            self.record.slo = self.slo.now().to_dict()
        except (OSError, ValueError) as e:
            self.record.slo = {"error": str(e)}

    def _times(self) -> None:
        r = self.record
        fired = self.alerts.first if self.alerts is not None else None
        if fired is not None and r.fault_at is not None:
            r.ttd_alert_s = round(fired.starts_at - r.fault_at, 3)
        if r.ttd_alert_s is not None and fired is not None:
            r.ttd_s, r.detected_by = r.ttd_alert_s, f"alert {fired.name}"
        elif r.ttd_oncall_s is not None:
            r.ttd_s = r.ttd_oncall_s
        r.ttm_s = r.ttm_oncall_s

    # ------------------------------------------------------------------ the on-call's marks

    @property
    def step(self) -> Step | None:
        return self.runbook.steps[self.current] if self.current < len(self.runbook.steps) else None

    @property
    def finished(self) -> bool:
        return self.current >= len(self.runbook.steps)

    def since_fault(self, at: float | None = None) -> float:
        return self.record.since_fault(time.time() if at is None else at)

    def begin(self, index: int) -> None:
        self.current = index
        self.step_began = time.time()
        if index < len(self.record.steps):
            self.record.steps[index].started_s = self.since_fault(self.step_began)

    def end_step(self, outcome: Outcome) -> None:
        """Close the current step with ``outcome`` and move to the next."""
        rec = self.record.steps[self.current]
        rec.outcome = outcome
        rec.duration_s = round(time.time() - self.step_began, 3)
        step = self.runbook.steps[self.current]
        if step.marks is not None and outcome in (Outcome.PASSED, Outcome.DONE):
            self.mark(step.marks, f"step {step.name}")
        self.begin(self.current + 1)

    def mark(self, which: Mark, by: str, at: float | None = None) -> bool:
        """Detected or mitigated, the first time only; returns whether it was new."""
        r = self.record
        value = self.since_fault(at)
        if which is Mark.DETECTED and r.ttd_oncall_s is None:
            r.ttd_oncall_s, r.detected_by = value, by
            return True
        if which is Mark.MITIGATED and r.ttm_oncall_s is None:
            r.ttm_oncall_s, r.mitigated_by = value, by
            return True
        return False

    def note(self, text: str, at: float | None = None) -> None:
        step = self.step.name if self.step is not None else "-"
        self.record.notes.append(Note(self.since_fault(at), step, text.strip()))

    # ------------------------------------------------------------------ checks and dos

    def _call(self, ref: ProbeRef) -> dict[str, Any]:
        try:
            result = call_activity(ref, self.scenario.configuration)
        except (ActivityFailed, ChaosdrillError) as e:
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # a broken activity is a failed step, never a stranded fault
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return {"ok": verdict_of(result), "result": _short(result)}

    def run_check(self, step: Step, retry_for_s: float = 0.0) -> dict[str, Any]:
        """Run the step's probe; with ``retry_for_s``, again each second until it passes."""
        assert step.check is not None
        deadline = time.time() + retry_for_s
        attempts = int(retry_for_s) + 1
        outcome: dict[str, Any] = {}
        for attempt in range(1, attempts + 1):
            outcome = {**self._call(step.check), "attempts": attempt}
            if outcome["ok"] or time.time() >= deadline:
                break
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
        self.record.steps[self.current].check = outcome
        return outcome

    def run_do(self, step: Step) -> dict[str, Any]:
        assert step.do is not None
        outcome = self._call(step.do)
        self.record.steps[self.current].do = outcome
        return outcome

    def decline_do(self) -> None:
        self.record.steps[self.current].do = {"ok": True, "result": "declined by the on-call"}

    def out_of_time(self) -> bool:
        return time.time() >= self.deadline


def refused(runbook_path: Path, out_dir: Path, mode: str, error: BadInput | str) -> RehearsalRecord:
    """The record of a rehearsal that never started (bad input): nothing injected."""
    record = RehearsalRecord(
        runbook=str(runbook_path),
        title=runbook_path.stem,
        mode=mode,
        status=Status.REFUSED,
        started_at=time.time(),
        reason=str(error),
    )
    record.ended_at = record.started_at
    write_record(record, out_dir)
    return record
