"""Running a drill plan: each experiment through the real ``chaos run``, then one report.

Each experiment is a separate ``chaos run`` process, exactly as a person would run it, so a
drill exercises the same controls, rollbacks and signal handling as a manual run, and one
experiment that wedges or crashes cannot take the others (or the report) down with it.
The experiment's own file says what outcome to expect; the verdict is the comparison.

Exit code of a drill: 0 when every experiment ended as expected, 1 when one did not (a
finding about the system), 2 when a run broke without a journal (a finding about the drill).
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaosdrill import runctx
from chaosdrill.drills.environment import target_environment
from chaosdrill.drills.history import append_history, entry_of
from chaosdrill.drills.plan import DrillPlan, PlannedExperiment
from chaosdrill.errors import ToolError
from chaosdrill.report import ReportFiles, write_reports
from chaosdrill.report.model import ExperimentResult, load_result

__all__ = ["DrillOutcome", "chaos_command", "run_plan", "run_rehearsals"]

log = logging.getLogger(__name__)

# After the deadline chaos gets SIGINT (it plays the rollbacks), then SIGTERM, then SIGKILL.
_GRACE_INT_S, _GRACE_TERM_S = 120.0, 30.0
_RUN_FILES = ("journal.json", "measurements.jsonl", "chaos.out", "chaostoolkit.log", "drill-vars.json")


@dataclass(frozen=True)
class DrillOutcome:
    plan: DrillPlan
    out: Path
    results: tuple[ExperimentResult, ...]
    report: ReportFiles
    history: Path
    started: float
    finished: float
    rehearsals: tuple[dict[str, Any], ...] = field(default=())

    @property
    def exit_code(self) -> int:
        rehearsed = [int(r.get("exit_code", 2)) for r in self.rehearsals]
        if any(r.error is not None for r in self.results) or 2 in rehearsed:
            return 2
        return 0 if all(r.passed for r in self.results) and not any(rehearsed) else 1


def chaos_command() -> list[str]:
    """The ``chaos`` executable of this environment (next to our interpreter first)."""
    beside = Path(sys.executable).parent / "chaos"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("chaos")
    if found is None:
        raise ToolError("the `chaos` command (chaostoolkit) is not installed in this environment")
    return [found]


def _run_dirs(experiments: Sequence[PlannedExperiment], out: Path) -> list[Path]:
    """``<out>/<stem>``; a stem used twice gets its parent folder's name in front."""
    stems = [e.path.stem for e in experiments]
    dirs = []
    for e in experiments:
        name = e.path.stem if stems.count(e.path.stem) == 1 else f"{e.path.parent.name}-{e.path.stem}"
        dirs.append(out / name)
    return dirs


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, bool]:
    """Wait for chaos; past the deadline interrupt it politely, then less so."""
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        pass
    for sig, grace in ((signal.SIGINT, _GRACE_INT_S), (signal.SIGTERM, _GRACE_TERM_S)):
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=grace), True
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    return proc.wait(), True


def _tail(path: Path, chars: int = 1200) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:].strip()
    except OSError:
        return ""


def _run_one(
    plan: DrillPlan,
    planned: PlannedExperiment,
    run_dir: Path,
    chaos: Sequence[str],
    say: Callable[[str], None],
) -> ExperimentResult:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in _RUN_FILES:  # a stale journal must never be mistaken for this run's
        (run_dir / name).unlink(missing_ok=True)
    var_file = run_dir / "drill-vars.json"
    var_file.write_text(
        json.dumps({"configuration": plan.configuration_overrides()}, indent=2), encoding="utf-8"
    )
    journal = run_dir / "journal.json"
    argv = [
        *chaos,
        "--no-version-check",
        "--log-file",
        str(run_dir / "chaostoolkit.log"),
        "run",
        "--rollback-strategy",
        "always",
        "--journal-path",
        str(journal),
        "--var-file",
        str(var_file),
        str(planned.path),
    ]
    env = {**os.environ, runctx.RUN_DIR_ENV: str(run_dir)}
    say(f"run: {planned.path.name} (expects {planned.expectation.status.value})")
    began = time.monotonic()
    with (run_dir / "chaos.out").open("wb") as output:
        proc = subprocess.Popen(
            argv, cwd=plan.root, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
        try:
            rc, timed_out = _wait(proc, plan.timeout_s)
        except KeyboardInterrupt:
            # chaos got the same SIGINT from the terminal: let it finish its rollbacks.
            _wait(proc, _GRACE_INT_S)
            raise
    took = time.monotonic() - began
    if journal.is_file():
        result = load_result(journal, name=run_dir.name, expected=planned.expectation.status)
        if timed_out:
            result = _with_note(result, f"interrupted by the drill after its {plan.timeout_s:.0f}s timeout")
    else:
        reason = "timed out and was killed" if timed_out else f"exited {rc}"
        result = ExperimentResult(
            name=run_dir.name,
            title=planned.title,
            expected=planned.expectation.status,
            actual=None,
            duration_s=took,
            error=f"chaos {reason} without writing a journal; see {run_dir / 'chaos.out'}",
            notes=(_tail(run_dir / "chaos.out"),) if _tail(run_dir / "chaos.out") else (),
        )
    actual = result.actual.value if result.actual else "no journal"
    say(f"  {result.verdict}: expected {result.expected.value}, got {actual} ({took:.1f}s)")
    return result


def _with_note(result: ExperimentResult, note: str) -> ExperimentResult:
    return replace(result, notes=(*result.notes, note))


def run_plan(
    plan: DrillPlan,
    out: Path,
    *,
    manage_target: bool = True,
    history: Path | None = None,
    chaos: Sequence[str] | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> DrillOutcome:
    """Run every experiment of ``plan`` into ``out``, write the report, append the history."""
    command = list(chaos) if chaos is not None else chaos_command()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    history_path = (history or out.parent / "history.jsonl").resolve()
    started = time.time()
    say(f"drill {plan.name}: {len(plan.experiments)} experiment(s) on {plan.target.value}, into {out}")
    results: list[ExperimentResult] = []
    with target_environment(plan.target, manage=manage_target, topology=plan.topology, say=say):
        for planned, run_dir in zip(plan.experiments, _run_dirs(plan.experiments, out), strict=True):
            results.append(_run_one(plan, planned, run_dir, command, say))
        rehearsals = run_rehearsals(plan, out, say)
    finished = time.time()
    report = write_reports(results, out, title=f"Drill {plan.name}", slo=plan.slo)
    outcome = DrillOutcome(
        plan=plan,
        out=out,
        results=tuple(results),
        report=report,
        history=history_path,
        started=started,
        finished=finished,
        rehearsals=tuple(rehearsals),
    )
    append_history(
        history_path, entry_of(plan, outcome.results, started=started, out=out, exit_code=outcome.exit_code)
    )
    return outcome


# --------------------------------------------------------------------------- rehearsals


def _rehearse_one(plan: DrillPlan, runbook: Path, out: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """``chaosdrill rehearse RUNBOOK --auto`` in its own process, as the experiments run in
    theirs; returns its record (``rehearsal.json``) with the exit code, or an error record."""
    out.mkdir(parents=True, exist_ok=True)
    record = out / "rehearsal.json"
    record.unlink(missing_ok=True)
    var_file = out / "drill-vars.json"
    var_file.write_text(
        json.dumps({"configuration": plan.configuration_overrides()}, indent=2), encoding="utf-8"
    )
    argv = [sys.executable, "-m", "chaosdrill.cli", "rehearse", str(runbook), "--auto"]
    argv += ["--out", str(out), "--var-file", str(var_file)]
    say(f"rehearse: {runbook.name} (--auto)")
    with (out / "rehearse.out").open("wb") as output:
        proc = subprocess.Popen(argv, cwd=plan.root, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        try:
            rc, timed_out = _wait(proc, plan.timeout_s)
        except KeyboardInterrupt:
            _wait(proc, _GRACE_INT_S)  # it got the same SIGINT: let it roll back
            raise
    try:
        found: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = {
            "runbook": str(runbook),
            "status": "error",
            "reason": f"no record; see {out / 'rehearse.out'}",
        }
    found["exit_code"] = 2 if timed_out else rc
    say(
        f"  {found.get('status')}: TTD {found.get('ttd_s')} s, TTM {found.get('ttm_s')} s (exit {found['exit_code']})"
    )
    return found


def run_rehearsals(plan: DrillPlan, out: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Each of the plan's ``rehearsals`` with ``--auto``, after the experiments; their records
    go to ``<out>/rehearsals/<runbook>/`` and together into ``<out>/rehearsals.json``."""
    if not plan.rehearsals:
        return []
    records = [
        _rehearse_one(plan, runbook, out / "rehearsals" / runbook.stem, say) for runbook in plan.rehearsals
    ]
    (out / "rehearsals.json").write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return records
