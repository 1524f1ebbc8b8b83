"""``chaosdrill report JOURNAL... --out DIR``: HTML, Markdown and JUnit from journals.

For runs made outside a drill (a plain ``chaos run``). Each journal's run is named after
its folder; the expected outcome comes from the experiment inside the journal.
Exit 0 when every run ended as expected, 1 otherwise, 2 on an unreadable journal.
"""

import argparse
from pathlib import Path
from typing import Any

from chaosdrill.report import load_result, write_reports

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="HTML + Markdown + JUnit report from Chaos Toolkit journals")
    p.add_argument("journals", nargs="+", type=Path, metavar="JOURNAL", help="journal.json files")
    p.add_argument("--out", type=Path, required=True, help="folder for index.html, report.md, junit.xml")
    p.add_argument("--title", default="Chaos experiments", help="report title")
    p.set_defaults(func=_report)


def _unique_names(journals: list[Path]) -> list[str]:
    names: list[str] = []
    for journal in journals:
        base = journal.parent.name or journal.stem
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def _report(args: argparse.Namespace) -> int:
    journals: list[Path] = args.journals
    results = [load_result(j, name=n) for j, n in zip(journals, _unique_names(journals), strict=True)]
    files = write_reports(results, args.out, title=args.title)
    for r in results:
        print(
            f"{r.name}: {r.verdict} (expected {r.expected.value}, got {r.actual.value if r.actual else 'none'})"
        )
    print(f"report: {files.html}  ({files.markdown.name}, {files.junit.name})")
    return 0 if all(r.passed for r in results) else 1
