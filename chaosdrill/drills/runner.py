"""Running a drill plan: each experiment through the real ``chaos run``, then one report.

Each experiment is a separate ``chaos run`` process, exactly as a person would run it, so a
drill exercises the same controls, rollbacks and signal handling as a manual run, and one
experiment that wedges or crashes cannot take the others (or the report) down with it.
The experiment's own file says what outcome to expect; the verdict is the comparison.

Before anything runs, each experiment of this month's rotation slot is prepared: the drill
writes the experiment as it will run it (the plan's configuration overrides merged in, the
guardrail added unless the experiment opts out, see :mod:`chaosdrill.drills.guard`), and
preflight resolves what it would touch against the live target. The file chaos runs holds
the experiment's inline and marked secrets, so it lives in a private (0700) folder outside
the report tree, removed when the drill ends; the run folder keeps a copy with every secret
redacted (``<run>/experiment.json``), since report folders get uploaded. One experiment that
breaks its blast radius refuses the whole drill (exit 2, nothing injected); preflight runs
again right before each experiment, since the target may have changed under the earlier
ones.

Exit code of a drill: 0 when every experiment ended as expected, 1 when one did not (a
finding about the system), 2 when a run broke without a journal or was refused by
preflight (a finding about the drill).
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from chaosdrill import runctx
from chaosdrill.drills.environment import target_environment
from chaosdrill.drills.guard import Guard, guarded
from chaosdrill.drills.measures import run_of
from chaosdrill.drills.plan import DrillPlan, PlannedExperiment, load_experiment
from chaosdrill.drills.store import Outcome, Run, open_store
from chaosdrill.errors import BadInput, NotRunning, ToolError
from chaosdrill.redact import redactor_for, scrub_journal
from chaosdrill.report import ReportFiles, write_reports
from chaosdrill.report.model import ExperimentResult, load_result

__all__ = ["DrillOutcome", "Preflight", "Prepared", "chaos_command", "prepare", "run_plan", "run_rehearsals"]

log = logging.getLogger(__name__)

# After the deadline chaos gets SIGINT (it plays the rollbacks), then SIGTERM, then SIGKILL.
_GRACE_INT_S, _GRACE_TERM_S = 120.0, 30.0
_RUN_FILES = (
    "journal.json",
    "measurements.jsonl",
    "chaos.out",
    "chaostoolkit.log",
    "drill-vars.json",
    "experiment.json",
    "drill-run.json",
)

# What the drill asks of preflight: the problems of the experiment file at a path (empty: fine).
# Injected by the command, because preflight sits above the drills in the engine's layers.
Preflight = Callable[[Path], Sequence[str]]


@dataclass(frozen=True)
class Prepared:
    """One experiment as this drill runs it: where, the file it hands to chaos, its guard."""

    planned: PlannedExperiment
    run_dir: Path
    experiment: Path  # the file chaos runs, secrets and all, in the drill's private folder
    guard: Guard


@dataclass(frozen=True)
class DrillOutcome:
    plan: DrillPlan
    out: Path
    results: tuple[ExperimentResult, ...]
    report: ReportFiles
    history: Path  # the history store (SQLite)
    started: float
    finished: float
    rehearsals: tuple[dict[str, Any], ...] = field(default=())
    month: date | None = None
    prepared: tuple[Prepared, ...] = ()

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


def prepare(plan: DrillPlan, planned: PlannedExperiment, run_dir: Path, private: Path) -> Prepared:
    """Write the experiment as the drill runs it into ``private``, its redacted copy and var
    file into a clean ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in _RUN_FILES:  # a stale journal must never be mistaken for this run's
        (run_dir / name).unlink(missing_ok=True)
    overrides = plan.configuration_overrides()
    doc, guard = guarded(load_experiment(planned.path), planned.guard)
    # The overrides go into the file too, so preflight judges exactly what chaos will run.
    doc["configuration"] = {**(doc.get("configuration") or {}), **overrides}
    experiment = private / f"{run_dir.name}.json"
    experiment.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    # Redacted as the journal's copy of the experiment is (its inline secrets blanked whole).
    record = {"experiment": doc}
    scrub_journal(record, redactor_for(doc["configuration"], None, doc))
    (run_dir / "experiment.json").write_text(json.dumps(record["experiment"], indent=2), encoding="utf-8")
    (run_dir / "drill-vars.json").write_text(
        json.dumps({"configuration": overrides}, indent=2), encoding="utf-8"
    )
    facts = {"experiment": str(planned.path), "family": planned.family, "guardrail": guard.as_record()}
    (run_dir / "drill-run.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return Prepared(planned, run_dir, experiment, guard)


def _refusal(prepared: Prepared, problems: Sequence[str]) -> BadInput:
    listed = "; ".join(problems)
    return BadInput(str(prepared.planned.path), "method", f"refused by preflight, nothing injected: {listed}")


def _problems(prepared: Prepared, check: Preflight) -> Sequence[str]:
    """Preflight's problems with the file the drill runs, errors named after the experiment's own file."""
    try:
        return check(prepared.experiment)
    except BadInput as e:
        raise BadInput(
            str(prepared.planned.path), e.field, f"refused by preflight, nothing injected: {e.problem}"
        ) from e


def _preflight_all(prepared: Sequence[Prepared], check: Preflight, say: Callable[[str], None]) -> None:
    """Every experiment of the drill, before the first one runs; BadInput on the first refusal."""
    for p in prepared:
        problems = _problems(p, check)
        if problems:
            raise _refusal(p, problems)
        say(f"preflight: {p.planned.path.name} ok")


def _refused_result(prepared: Prepared, error: str) -> ExperimentResult:
    return ExperimentResult(
        name=prepared.run_dir.name,
        title=prepared.planned.title,
        expected=prepared.planned.expectation.status,
        actual=None,
        error=error,
    )


def _run_one(
    plan: DrillPlan,
    prepared: Prepared,
    chaos: Sequence[str],
    say: Callable[[str], None],
) -> ExperimentResult:
    planned, run_dir = prepared.planned, prepared.run_dir
    var_file = run_dir / "drill-vars.json"
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
        str(prepared.experiment),
    ]
    env = {**os.environ, runctx.RUN_DIR_ENV: str(run_dir)}
    guard = "guarded" if prepared.guard.guarded else f"NOT guarded: {prepared.guard.reason}"
    say(f"run: {planned.path.name} (expects {planned.expectation.status.value}; {guard})")
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


def _this_month() -> date:
    now = datetime.now(UTC)
    return date(now.year, now.month, 1)


def _announce(
    plan: DrillPlan, month: date, chosen: Sequence[PlannedExperiment], say: Callable[[str], None]
) -> None:
    if plan.rotation is None:
        return
    families = plan.rotation.families_for(month)
    full = " (the yearly full drill: every family)" if plan.rotation.is_full(month) else ""
    say(f"rotation {month:%Y-%m}: families {', '.join(families)}{full}")
    skipped = [e.path.name for e in plan.experiments if e not in chosen]
    if skipped:
        say(f"rotation {month:%Y-%m}: not this month: {', '.join(skipped)}")


def _record(
    history_path: Path,
    plan: DrillPlan,
    prepared: Sequence[Prepared],
    results: Sequence[ExperimentResult],
    started: float,
) -> None:
    with open_store(history_path) as store:
        legacy = history_path.parent / "history.jsonl"
        if legacy.is_file():
            store.import_jsonl(legacy)
        for p, result in zip(prepared, results, strict=True):
            store.record(
                run_of(plan.name, result, started=started, family=p.planned.family, guard=p.guard.as_record())
            )


_REHEARSAL_OUTCOMES: dict[str, Outcome] = {"passed": "pass", "failed": "fail"}


def _record_rehearsals(history_path: Path, plan: DrillPlan, records: Sequence[dict[str, Any]]) -> None:
    """Each rehearsal record into the history store (kind ``rehearsal``), with its TTD and TTM."""
    if not records:
        return
    with open_store(history_path) as store:
        for found in records:
            started = found.get("started_at")
            store.record(
                Run(
                    plan=plan.name,
                    scenario=str(found.get("runbook")),
                    started_at=(
                        datetime.fromtimestamp(float(started), UTC) if started else datetime.now(UTC)
                    ).isoformat(),
                    kind="rehearsal",
                    outcome=_REHEARSAL_OUTCOMES.get(str(found.get("status")), "aborted"),
                    ttd_s=found.get("ttd_s"),
                    ttm_s=found.get("ttm_s"),
                    detail={"status": found.get("status"), "exit_code": found.get("exit_code")},
                )
            )


def _run_experiments(
    plan: DrillPlan,
    prepared: Sequence[Prepared],
    command: Sequence[str],
    preflight: Preflight | None,
    say: Callable[[str], None],
) -> list[ExperimentResult]:
    """Each experiment in order, checked by preflight again first (the first one just was)."""
    results: list[ExperimentResult] = []
    for i, p in enumerate(prepared):
        problems: Sequence[str] = ()
        if preflight is not None and i > 0:
            try:
                problems = _problems(p, preflight)
            except BadInput as e:  # the target changed under the earlier experiments
                problems = [e.problem]
            except NotRunning as e:  # or went away: refuse this one, keep the report and history
                problems = [str(e)]
        if problems:
            say(f"  refused by preflight: {'; '.join(problems)}")
            results.append(_refused_result(p, str(_refusal(p, problems))))
            continue
        results.append(_run_one(plan, p, command, say))
    return results


def run_plan(
    plan: DrillPlan,
    out: Path,
    *,
    manage_target: bool = True,
    history: Path | None = None,
    chaos: Sequence[str] | None = None,
    month: date | None = None,
    preflight: Preflight | None = None,
    say: Callable[[str], None] = lambda _msg: None,
) -> DrillOutcome:
    """Run this month's experiments of ``plan`` into ``out``, write the report, record the history.

    ``preflight`` (the problems of an experiment file) runs on every experiment before the
    first one and again right before each; ``None`` skips it (unit tests of the runner only).
    """
    command = list(chaos) if chaos is not None else chaos_command()
    month = month or _this_month()
    out = out.resolve()
    chosen = plan.experiments_for(month)
    history_path = (history or out.parent / "drill-history.sqlite").resolve()
    with open_store(history_path):
        pass  # a store that is not ours is bad input now, not after an hour of drilling
    _announce(plan, month, chosen, say)
    out.mkdir(parents=True, exist_ok=True)
    results: list[ExperimentResult] = []
    with tempfile.TemporaryDirectory(prefix="chaosdrill-drill-") as private:
        runs = zip(chosen, _run_dirs(chosen, out), strict=True)
        prepared = [prepare(plan, e, d, Path(private)) for e, d in runs]
        started = time.time()
        say(f"drill {plan.name}: {len(chosen)} experiment(s) on {plan.target.value}, into {out}")
        with target_environment(
            plan.target, manage=manage_target, topology=plan.topology, slo=plan.slo.availability, say=say
        ):
            if preflight is not None:
                _preflight_all(prepared, preflight, say)
            results.extend(_run_experiments(plan, prepared, command, preflight, say))
            rehearsals = run_rehearsals(plan, out, say)
    finished = time.time()
    report = write_reports(results, out, title=f"Drill {plan.name}", slo=plan.slo, rehearsals=rehearsals)
    outcome = DrillOutcome(
        plan=plan,
        out=out,
        results=tuple(results),
        report=report,
        history=history_path,
        started=started,
        finished=finished,
        rehearsals=tuple(rehearsals),
        month=month,
        prepared=tuple(prepared),
    )
    _record(history_path, plan, prepared, results, started)
    _record_rehearsals(history_path, plan, rehearsals)
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
