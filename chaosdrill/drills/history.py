"""Drill history: one JSON line per drill, and the trend table built from it.

A monthly drill is only useful if this month can be compared with the last: did the p99
under an AZ partition creep up, did availability during a DC failover drop? The history is
append-only JSON Lines next to the reports (``<out>/../history.jsonl``), so it survives the
report folder being replaced, and one torn line from a crash costs one entry, not the file.
"""

import fcntl
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chaosdrill.drills.plan import DrillPlan
from chaosdrill.report.formatting import fmt_ms, fmt_pct
from chaosdrill.report.model import ExperimentResult

__all__ = [
    "HISTORY_VERSION",
    "ExperimentTrend",
    "HistoryEntry",
    "append_history",
    "entry_of",
    "print_history",
    "read_history",
    "trend_table",
]

HISTORY_VERSION = 1


@dataclass(frozen=True)
class ExperimentTrend:
    name: str
    expected: str
    actual: str | None
    passed: bool
    availability: float | None
    p99_ms: float | None
    duration_s: float | None


@dataclass(frozen=True)
class HistoryEntry:
    date: str
    plan: str
    plan_file: str
    target: str
    exit_code: int
    out: str
    experiments: tuple[ExperimentTrend, ...]
    version: int = HISTORY_VERSION

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "HistoryEntry":
        return cls(
            date=str(doc["date"]),
            plan=str(doc["plan"]),
            plan_file=str(doc.get("plan_file", "")),
            target=str(doc.get("target", "")),
            exit_code=int(doc["exit_code"]),
            out=str(doc.get("out", "")),
            experiments=tuple(ExperimentTrend(**e) for e in doc.get("experiments", [])),
            version=int(doc.get("version", HISTORY_VERSION)),
        )


def entry_of(
    plan: DrillPlan, results: Sequence[ExperimentResult], *, started: float, out: Path, exit_code: int
) -> HistoryEntry:
    return HistoryEntry(
        date=datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        plan=plan.name,
        plan_file=str(plan.source),
        target=plan.target.value,
        exit_code=exit_code,
        out=str(out),
        experiments=tuple(
            ExperimentTrend(
                name=r.name,
                expected=r.expected.value,
                actual=r.actual.value if r.actual else None,
                passed=r.passed,
                availability=r.availability,
                p99_ms=r.p99_ms,
                duration_s=r.duration_s,
            )
            for r in results
        ),
    )


def append_history(path: Path, entry: HistoryEntry) -> None:
    """Append one line, whole, even if two drills finish at the same moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.write(entry.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_history(path: Path) -> list[HistoryEntry]:
    """Every readable entry, oldest first; unreadable lines are skipped."""
    if not path.is_file():
        return []
    entries: list[HistoryEntry] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(HistoryEntry.from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    entries.sort(key=lambda e: e.date)
    return entries


def trend_table(entries: Sequence[HistoryEntry], title: str = "Drill history") -> Table:
    """One row per experiment per drill, newest drill first."""
    table = Table(title=title)
    for column in ("date", "plan", "result", "experiment", "verdict", "availability", "p99"):
        table.add_column(column, no_wrap=column in ("date", "availability", "p99"))
    for entry in reversed(entries):
        passed = sum(1 for e in entry.experiments if e.passed)
        result = f"{'passed' if entry.passed else 'failed'} {passed}/{len(entry.experiments)}"
        style = "green" if entry.passed else "red"
        rows = entry.experiments or (ExperimentTrend("-", "-", None, False, None, None, None),)
        for i, e in enumerate(rows):
            table.add_row(
                entry.date.replace("T", " ")[:16] if i == 0 else "",
                entry.plan if i == 0 else "",
                f"[{style}]{result}[/]" if i == 0 else "",
                e.name,
                "as expected" if e.passed else f"{e.actual or 'no journal'} (expected {e.expected})",
                fmt_pct(e.availability),
                fmt_ms(e.p99_ms),
            )
        table.add_section()
    return table


def print_history(entries: Sequence[HistoryEntry], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)  # a CI log has no width; do not squeeze the table to 80
    console.print(trend_table(entries))
