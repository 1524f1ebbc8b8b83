"""``chaosdrill rehearse RUNBOOK [--auto]``: a GameDay against the runbook's live fault.

Without ``--auto`` the on-call drives a screen with keys (see ``docs/gameday.md``); with it,
the runbook's dos and checks run unattended (CI). Either way the rehearsal runs load and
injects the runbook's fault under the controls of ``chaos run`` (ledger, guardrail), always
rolls back, and writes ``rehearsal.json`` and ``rehearsal.md`` into ``--out``.

Exit codes: 0 every check and do passed; 1 one failed, or the rehearsal was cut short
(q, Ctrl-C, SIGTERM, the guardrail); 2 bad input (a runbook that does not lint, a bad
configuration) or a fault that could not be injected, with nothing left injected.
"""

import argparse
import time
from pathlib import Path
from typing import Any

from chaosdrill.commands.runbook import table_of
from chaosdrill.errors import BadInput
from chaosdrill.rehearsal.auto import CHECK_WAIT_S, rehearse_auto
from chaosdrill.rehearsal.lint import lint_runbook
from chaosdrill.rehearsal.record import RECORD_JSON, RehearsalRecord
from chaosdrill.rehearsal.runbook import load_runbook
from chaosdrill.rehearsal.screen import rehearse_interactive
from chaosdrill.schemas.reader import read_document

__all__ = ["register"]

MAX_BOUND_S = 4 * 3600.0


def register(sub: Any) -> None:
    p = sub.add_parser("rehearse", help="rehearse a runbook against its live fault (a GameDay)")
    p.add_argument("runbook", type=Path, help="runbook file (runbooks/*.md)")
    p.add_argument("--auto", action="store_true", help="run the checks and dos unattended (CI)")
    p.add_argument("--out", type=Path, help="record folder (default: reports/rehearsals/<runbook>-<time>)")
    p.add_argument(
        "--var-file",
        type=Path,
        help="JSON or YAML {configuration: {...}} overriding the experiment's (as chaos run --var-file)",
    )
    p.add_argument(
        "--max-duration",
        type=float,
        metavar="S",
        help="interactive: end (and roll back) after S seconds (default: the time boxes + 10 min, at most 4 h)",
    )
    p.add_argument(
        "--check-wait",
        type=float,
        default=CHECK_WAIT_S,
        metavar="S",
        help=f"--auto: retry a failing check for up to S seconds (default {CHECK_WAIT_S:g})",
    )
    p.set_defaults(func=_rehearse)


def _configuration(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = read_document(path)
    conf = data.get("configuration") if isinstance(data, dict) else None
    if not isinstance(conf, dict):
        raise BadInput(str(path), "configuration", "expected a mapping under `configuration`")
    return conf


def _summary(record: RehearsalRecord, out: Path) -> None:
    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} s"

    print(
        f"rehearsal {record.status.value}: {record.title}" + (f" ({record.reason})" if record.reason else "")
    )
    print(f"  time to detect: {secs(record.ttd_s)} ({record.detected_by or 'not detected'})")
    print(f"  time to mitigate: {secs(record.ttm_s)} ({record.mitigated_by or 'not mitigated'})")
    for step in record.steps:
        print(f"  {step.outcome.value:12} {step.name}")
    if record.left_active:
        print(f"  LEFT ACTIVE: {', '.join(record.left_active)}: run `chaosdrill recover`")
    print(f"record: {out / RECORD_JSON}")


def _rehearse(args: argparse.Namespace) -> int:
    out: Path = (
        args.out or Path("reports") / "rehearsals" / f"{args.runbook.stem}-{time.strftime('%Y%m%dT%H%M%S')}"
    )
    out = out.resolve()
    if args.max_duration is not None and not 0 < args.max_duration <= MAX_BOUND_S:
        raise BadInput("<argument>", "--max-duration", f"must be in (0, {MAX_BOUND_S:.0f}] seconds")
    if args.check_wait < 0:
        raise BadInput("<argument>", "--check-wait", "must be >= 0")
    configuration = _configuration(args.var_file)
    table = table_of(args)
    if args.auto:
        record = rehearse_auto(
            args.runbook,
            out_dir=out,
            configuration=configuration,
            check_wait_s=args.check_wait,
            commands=table,
            say=lambda m: print(m, flush=True),
        )
        _summary(record, out)
        return record.exit_code
    book = load_runbook(args.runbook)
    problems = lint_runbook(book, table)
    if problems:
        for problem in problems:
            print(f"chaosdrill: invalid input: {problem}")
        raise BadInput(str(args.runbook), problems[0].field, "the runbook does not lint; nothing injected")
    bound = args.max_duration or min(book.total_timeout_s + 600.0, MAX_BOUND_S)
    record = rehearse_interactive(book, out_dir=out, configuration=configuration, max_duration_s=bound)
    _summary(record, out)
    return record.exit_code
