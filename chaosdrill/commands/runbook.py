"""``chaosdrill runbook lint [RUNBOOK...]``: every reference of a runbook resolves.

With no argument it lints every ``runbooks/*.md`` under the current folder. Exit 0 when
every runbook is clean, 2 when any reference is broken (each printed as file: field: problem).
"""

import argparse
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.rehearsal.lint import lint_file

__all__ = ["command_table", "register"]


def register(sub: Any) -> None:
    p = sub.add_parser("runbook", help="runbooks: check that every reference resolves")
    rsub = p.add_subparsers(dest="runbook_command", required=True)
    lint = rsub.add_parser(
        "lint", help="check experiments, probes, actions, alerts and commands a runbook names"
    )
    lint.add_argument("runbooks", nargs="*", type=Path, help="runbook files (default: runbooks/*.md)")
    lint.set_defaults(func=_lint)


def command_table(parser: argparse.ArgumentParser) -> set[tuple[str, ...]]:
    """Every runnable command path of ``parser``: ``("sandbox", "up")``, ``("recover",)``."""
    table: set[tuple[str, ...]] = set()

    def walk(p: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs and prefix:
            table.add(prefix)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*prefix, name))

    walk(parser, ())
    return table


def table_of(args: argparse.Namespace) -> set[tuple[str, ...]] | None:
    """The CLI's command table, from the root parser the CLI hands every command."""
    root = getattr(args, "root_parser", None)
    return command_table(root) if isinstance(root, argparse.ArgumentParser) else None


def _lint(args: argparse.Namespace) -> int:
    paths: list[Path] = list(args.runbooks) or sorted(Path("runbooks").glob("*.md"))
    if not paths:
        raise BadInput("<argument>", "runbooks", "no runbook given and no runbooks/*.md here")
    table = table_of(args)
    bad = 0
    for path in paths:
        problems = lint_file(path, table)
        for problem in problems:
            print(f"chaosdrill: invalid input: {problem}")
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        bad += bool(problems)
    return 2 if bad else 0
