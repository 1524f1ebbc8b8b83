"""``chaosdrill rehearse RUNBOOK``: the GameDay screen in a terminal.

A plain ANSI redraw (no curses: it must work in any terminal a CI job or tmux gives it),
twice a second, of the current step, its timer against its time box, the live SLO, and what
has been marked. The terminal is in cbreak mode, so each key acts at once and Ctrl-C still
reaches us as SIGINT; keys are timestamped when read, which is what the record keeps.

Keys: ``d`` detected, ``m`` mitigated, ``s`` skip the step, ``n`` note (a line of text),
Enter: the step is done (its ``do`` after y/N, then its ``check``), ``q`` abort (rolls back).
"""

import os
import select
import shutil
import sys
import termios
import textwrap
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from chaosdrill.rehearsal.record import Outcome, RehearsalRecord, Status
from chaosdrill.rehearsal.runbook import Mark, ProbeRef, Runbook
from chaosdrill.rehearsal.session import Aborted, Session, abort_on_signals

__all__ = ["KEYS", "rehearse_interactive"]

KEYS = "Enter done   d detected   m mitigated   s skip   n note   q abort"
REDRAW_S = 0.5
CLEAR = "\x1b[H\x1b[2J"


def _call(ref: ProbeRef) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in ref.arguments.items())
    return f"{ref.qualified_name}({args})"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def render(session: Session, last: str, width: int) -> str:
    """The screen as text (also what the tests read from tmux)."""
    r, book = session.record, session.runbook
    slo = session.slo.now()
    target = float(session.scenario.configuration.get("slo_availability", 0.995))
    watch = session.alerts
    alerting = (
        f"watching {', '.join(book.triggers)} in Alertmanager"
        if watch is not None and watch.available
        else "no Alertmanager: detection is the on-call's d"
    )
    fired = watch.first if watch is not None else None
    lines = [
        f"chaosdrill rehearse: {book.title} [{book.severity.value}]",
        f"fault +{_clock(session.since_fault())} since injection   bound {_clock(session.max_duration_s)}",
        f"faults: {'; '.join(r.faults)}",
        f"SLO (last {slo.window_s:.0f} s): good {_pct(slo.good_ratio)} (target {_pct(target)})"
        f"   p99 {_ms(slo.p99_s)}   n={slo.completed}",
        f"alerts: {alerting}"
        + (f"   FIRED {fired.name} at +{fired.starts_at - (r.fault_at or 0):.1f} s" if fired else ""),
        f"detected: {'-' if r.ttd_oncall_s is None else f'+{r.ttd_oncall_s:.1f} s'}"
        f"   mitigated: {'-' if r.ttm_oncall_s is None else f'+{r.ttm_oncall_s:.1f} s'}"
        f"   notes: {len(r.notes)}",
        "",
    ]
    step = session.step
    if step is not None:
        took = time.time() - session.step_began
        over = "  OVER TIME" if took > step.timeout_s else ""
        lines.append(
            f"step {session.current + 1}/{len(book.steps)}  {step.name}   {_clock(took)} / {_clock(step.timeout_s)}{over}"
        )
        lines += ["  " + line for line in textwrap.wrap(step.action, max(20, width - 4))]
        for op in step.operations:
            lines.append(f"  run: {op.command}" if op.command else f"  operation: {op.documented} ({op.doc})")
        if step.do is not None:
            lines.append(f"  do (Enter, then y): {_call(step.do)}")
        if step.check is not None:
            lines.append(f"  check (on Enter): {_call(step.check)}")
    lines += ["", f"keys: {KEYS}", f"last: {last}"]
    return CLEAR + "\n".join(line[:width] for line in lines) + "\n"


class _Terminal:
    """cbreak mode on a tty (restored on exit); a plain stream otherwise."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.fd = stdin.fileno()
        self.out = stdout
        self.saved: list[Any] | None = termios.tcgetattr(self.fd) if os.isatty(self.fd) else None

    def __enter__(self) -> "_Terminal":
        if self.saved is not None:
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cooked()

    def cooked(self) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def key(self, timeout_s: float) -> tuple[str, float] | None:
        """One key and when it was read, or None after ``timeout_s``."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return None
        data = os.read(self.fd, 1)
        if not data:
            raise Aborted("the terminal closed")
        return data.decode("utf-8", errors="replace"), time.time()

    def line(self, prompt: str) -> str:
        """A line of text, typed with echo on."""
        self.cooked()
        try:
            self.out.write(prompt)
            self.out.flush()
            raw = b""
            while not raw.endswith(b"\n") and len(raw) < 2000:
                chunk = os.read(self.fd, 1)
                if not chunk:
                    break
                raw += chunk
            return raw.decode("utf-8", errors="replace").strip()
        finally:
            if self.saved is not None:
                tty.setcbreak(self.fd)

    def draw(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _confirm(term: _Terminal, question: str) -> bool:
    term.draw(f"\n{question} [y/N] ")
    found = None
    while found is None:
        found = term.key(3600.0)
    return found[0].lower() == "y"


def _enter(session: Session, term: _Terminal) -> str:
    step = session.step
    assert step is not None
    if step.do is not None:
        if _confirm(term, f"run {_call(step.do)}?"):
            term.draw("\nrunning...\n")
            done = session.run_do(step)
            if not done["ok"]:
                session.end_step(Outcome.FAILED)
                return f"{step.name}: do FAILED: {done.get('error') or done.get('result')}"
        else:
            session.decline_do()
    if step.check is not None:
        term.draw("\nchecking...\n")
        checked = session.run_check(step)
        outcome = Outcome.PASSED if checked["ok"] else Outcome.FAILED
        session.end_step(outcome)
        detail = "" if checked["ok"] else f": {checked.get('error') or checked.get('result')}"
        return f"{step.name}: check {outcome.value}{detail}"
    session.end_step(Outcome.DONE)
    return f"{step.name}: done"


def _loop(session: Session, term: _Terminal) -> Status:
    last = "fault injected; press d when you would have been paged"
    width = shutil.get_terminal_size((100, 40)).columns
    next_draw = 0.0
    while not session.finished:
        if session.out_of_time():
            raise Aborted(f"past the rehearsal's bound of {session.max_duration_s:.0f}s")
        if time.time() >= next_draw:
            term.draw(render(session, last, width))
            next_draw = time.time() + REDRAW_S
        got = term.key(max(0.01, next_draw - time.time()))
        if got is None:
            continue
        key, at = got
        next_draw = 0.0
        if key == "d":
            last = "detected" if session.mark(Mark.DETECTED, "on-call", at) else "already detected"
        elif key == "m":
            last = "mitigated" if session.mark(Mark.MITIGATED, "on-call", at) else "already mitigated"
        elif key == "s":
            name = session.step.name if session.step else ""
            session.end_step(Outcome.SKIPPED)
            last = f"{name}: skipped"
        elif key == "n":
            text = term.line("\nnote: ")
            if text:
                session.note(text, at)
            last = "note kept" if text else "empty note dropped"
        elif key in ("\r", "\n"):
            last = _enter(session, term)
        elif key == "q":
            raise Aborted("the on-call pressed q")
    failed = any(s.outcome is Outcome.FAILED for s in session.record.steps)
    return Status.FAILED if failed else Status.PASSED


def rehearse_interactive(
    runbook: Runbook,
    *,
    out_dir: Path,
    configuration: dict[str, Any],
    max_duration_s: float,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    say: Callable[[str], None] = print,
) -> RehearsalRecord:
    """Walk an on-call through ``runbook`` against its live fault; always rolls back."""
    session = Session(
        runbook,
        out_dir=out_dir,
        configuration=configuration,
        mode="interactive",
        max_duration_s=max_duration_s,
        say=say,
    )
    status, reason = Status.FAILED, ""
    with abort_on_signals():
        try:
            session.open()
            with _Terminal(stdin, stdout) as term:
                status = _loop(session, term)
        except Aborted as e:
            status, reason = Status.ABORTED, str(e)
        except KeyboardInterrupt:
            status, reason = Status.ABORTED, "Ctrl-C"
        finally:
            stdout.write("\nrolling back...\n")
            stdout.flush()
            if session.record.fault_at is None and status is not Status.ABORTED:
                status = Status.REFUSED
            record = session.close(status, reason)
    return record
