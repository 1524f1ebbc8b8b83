"""``chaosdrill drill run PLAN`` and ``chaosdrill drill history``.

Exit codes: 0 every experiment ended as its file expects; 1 one did not (a finding about
the system); 2 a bad plan, an experiment refused by preflight, or a tool failure (a finding
about the drill). ``drill history --fail-on-regression`` exits 1 when it flags one.
"""

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from chaosdrill.drills import trends
from chaosdrill.drills.plan import load_plan
from chaosdrill.drills.rotation import parse_month
from chaosdrill.drills.runner import run_plan
from chaosdrill.drills.store import open_store
from chaosdrill.errors import BadInput, NotRunning
from chaosdrill.rehearsal.lint import lint_file

__all__ = ["register"]

DEFAULT_OUT = Path("reports")
STORE_NAME = "drill-history.sqlite"


def register(sub: Any) -> None:
    p = sub.add_parser("drill", help="run a drill plan and keep its history")
    dsub = p.add_subparsers(dest="drill_command", required=True)
    run = dsub.add_parser("run", help="run this month's experiments of a plan, then write the report")
    run.add_argument("plan", type=Path, help="drill plan YAML (e.g. ci/plans/sandbox.yaml)")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: reports)")
    run.add_argument(
        "--no-sandbox",
        action="store_true",
        help="do not start/stop the target (sandbox or local cluster); use what is running, if anything",
    )
    run.add_argument("--history", type=Path, help=f"history store (default: <out>/../{STORE_NAME})")
    run.add_argument(
        "--month",
        help="the rotation slot to run, YYYY-MM (default: the current month, UTC); plans without a rotation run everything",
    )
    run.set_defaults(func=_run)
    hist = dsub.add_parser("history", help="trends per scenario across past drills, and regressions")
    hist.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder the drills wrote to")
    hist.add_argument("--history", type=Path, help=f"history store (default: <out>/../{STORE_NAME})")
    hist.add_argument("--plan", help="only this plan's runs")
    hist.add_argument("--scenario", help="only this scenario (experiment or runbook)")
    hist.add_argument("--last", type=int, default=4, help="runs per scenario shown in the trend (default: 4)")
    hist.add_argument(
        "--margin",
        type=float,
        default=trends.DEFAULT_MARGIN,
        help="flag RTO/TTD/TTM/budget rises above this fraction of the previous run (default: 0.2 = 20%%)",
    )
    hist.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a regression is flagged")
    hist.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="first add the runs of another store (repeatable)",
    )
    hist.set_defaults(func=_history)


def _say(message: str) -> None:
    print(message, flush=True)


def _store_path(args: argparse.Namespace) -> Path:
    path: Path = args.history or args.out.resolve().parent / STORE_NAME
    return path


def _preflight(path: Path) -> Sequence[str]:
    from chaosdrill.preflight import run_preflight  # lazy: it loads every fault kind

    try:
        return run_preflight(path).problems
    except (BadInput, NotRunning):
        raise
    except Exception as e:  # preflight could not judge it: refuse rather than run blind
        return [f"preflight could not resolve the experiment ({type(e).__name__}: {e})"]


def _run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    _lint_rehearsals(plan.rehearsals, args)
    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as e:
        raise BadInput("--month", "--month", str(e)) from e
    outcome = run_plan(
        plan,
        args.out,
        manage_target=not args.no_sandbox,
        history=_store_path(args),
        month=month,
        preflight=_preflight,
        say=_say,
    )
    passed = sum(1 for r in outcome.results if r.passed)
    guarded = sum(1 for p in outcome.prepared if p.guard.guarded)
    _say(
        f"drill {plan.name}: {passed}/{len(outcome.results)} as expected; {guarded} guarded by the guardrail"
    )
    _say(f"report: {outcome.report.html}  ({outcome.report.markdown.name}, {outcome.report.junit.name})")
    for rehearsal in outcome.rehearsals:
        _say(
            f"rehearsal {rehearsal.get('runbook')}: {rehearsal.get('status')}, "
            f"TTD {rehearsal.get('ttd_s')} s, TTM {rehearsal.get('ttm_s')} s"
        )
    _say(f"history: {outcome.history}")
    _say(f"next scheduled run ({plan.schedule}): {plan.next_run(datetime.now(UTC)):%Y-%m-%d %H:%M %Z}")
    return outcome.exit_code


def _lint_rehearsals(runbooks: tuple[Path, ...], args: argparse.Namespace) -> None:
    """A plan's runbooks must lint before anything runs: a broken reference is exit 2, nothing run."""
    from chaosdrill.commands.runbook import table_of

    table = table_of(args)
    for runbook in runbooks:
        problems = lint_file(runbook, table)
        if problems:
            first = problems[0]
            raise BadInput(first.source, first.field, "; ".join(p.message for p in problems))


def _history(args: argparse.Namespace) -> int:
    if args.margin < 0:
        raise BadInput("--margin", "--margin", f"must be >= 0, got {args.margin}")
    path = _store_path(args)
    legacy = path.parent / "history.jsonl"
    for other in args.merge:
        if not other.is_file():
            raise BadInput(str(other), "--merge", "no such store file")
    if not path.is_file() and not legacy.is_file() and not args.merge:
        print(f"no drills recorded in {path}")
        return 0
    with open_store(path) as store:
        if legacy.is_file():
            store.import_jsonl(legacy)
        for other in args.merge:
            print(f"merged {store.merge_from(other)} run(s) from {other}")
        runs = store.runs(plan=args.plan, scenario=args.scenario)
    if not runs:
        print(f"no drills recorded in {path}")
        return 0
    flagged = trends.regressions(runs, margin=args.margin)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a CI log has no width; do not squeeze the table to 80
    console.print(trends.trend_table(runs, last=args.last, flagged=flagged))
    for r in flagged:
        console.print(f"[red]REGRESSION[/] {r}", highlight=False)
    if not flagged:
        console.print("no regressions against the previous run of each scenario")
    return 1 if flagged and args.fail_on_regression else 0
