"""``chaosdrill drill run PLAN`` and ``chaosdrill drill history``.

Exit codes: 0 every experiment ended as its file expects; 1 one did not (a finding about
the system); 2 a bad plan or a tool failure (a finding about the drill).
"""

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosdrill.drills import history as drill_history
from chaosdrill.drills.plan import load_plan
from chaosdrill.drills.runner import run_plan
from chaosdrill.errors import BadInput
from chaosdrill.rehearsal.lint import lint_file

__all__ = ["register"]

DEFAULT_OUT = Path("reports")


def register(sub: Any) -> None:
    p = sub.add_parser("drill", help="run a drill plan and keep its history")
    dsub = p.add_subparsers(dest="drill_command", required=True)
    run = dsub.add_parser("run", help="run every experiment of a plan, then write the report")
    run.add_argument("plan", type=Path, help="drill plan YAML (e.g. ci/plans/sandbox.yaml)")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: reports)")
    run.add_argument(
        "--no-sandbox",
        action="store_true",
        help="do not start/stop the target (sandbox or local cluster); use what is running, if anything",
    )
    run.add_argument("--history", type=Path, help="history file (default: <out>/../history.jsonl)")
    run.set_defaults(func=_run)
    hist = dsub.add_parser("history", help="trends across past drills")
    hist.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder the drills wrote to")
    hist.add_argument("--history", type=Path, help="history file (default: <out>/../history.jsonl)")
    hist.add_argument("--plan", help="only this plan's drills")
    hist.add_argument("--limit", type=int, default=12, help="most recent N drills (default: 12)")
    hist.set_defaults(func=_history)


def _say(message: str) -> None:
    print(message, flush=True)


def _history_path(args: argparse.Namespace) -> Path:
    path: Path = args.history or args.out.resolve().parent / "history.jsonl"
    return path


def _run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan)
    _lint_rehearsals(plan.rehearsals, args)
    outcome = run_plan(plan, args.out, manage_target=not args.no_sandbox, history=args.history, say=_say)
    passed = sum(1 for r in outcome.results if r.passed)
    _say(f"drill {plan.name}: {passed}/{len(outcome.results)} as expected")
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
    path = _history_path(args)
    entries = drill_history.read_history(path)
    if args.plan:
        entries = [e for e in entries if e.plan == args.plan]
    if not entries:
        print(f"no drills recorded in {path}")
        return 0
    drill_history.print_history(entries[-args.limit :] if args.limit > 0 else entries)
    return 0
