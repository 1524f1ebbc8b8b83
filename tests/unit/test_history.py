"""Drill history: append, replay past a torn line, and the trend table."""

from pathlib import Path

import pytest
from rich.console import Console

from chaosdrill.drills.history import ExperimentTrend, HistoryEntry, append_history, read_history, trend_table

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def _entry(date: str, exit_code: int, availability: float | None) -> HistoryEntry:
    trend = ExperimentTrend(
        "az-partition",
        "completed",
        "completed" if exit_code == 0 else "deviated",
        exit_code == 0,
        availability,
        412.5,
        30.0,
    )
    return HistoryEntry(
        date=date,
        plan="monthly",
        plan_file="p.yaml",
        target="sandbox",
        exit_code=exit_code,
        out="reports",
        experiments=(trend,),
    )


def test_append_and_replay_skip_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "h" / "history.jsonl"
    append_history(path, _entry("2026-02-01T03:00:00+00:00", 1, 0.9931))
    with path.open("a") as f:
        f.write('{"date": "2026-02-15", "pla')  # a crash mid-write
        f.write("\n")
    append_history(path, _entry("2026-01-01T03:00:00+00:00", 0, 0.99981))
    entries = read_history(path)
    assert [e.date[:10] for e in entries] == ["2026-01-01", "2026-02-01"]  # sorted by date
    assert entries[1].experiments[0].actual == "deviated" and not entries[1].passed


def test_trend_table_newest_first(tmp_path: Path) -> None:
    console = Console(width=160, record=True)
    console.print(
        trend_table(
            [_entry("2026-01-01T03:00:00+00:00", 0, 0.99981), _entry("2026-02-01T03:00:00+00:00", 1, None)]
        )
    )
    text = console.export_text()
    assert text.index("2026-02-01 03:00") < text.index("2026-01-01 03:00")
    assert "failed 0/1" in text and "passed 1/1" in text
    assert "99.981%" in text and "n/a" in text and "412.5 ms" in text
    assert "deviated (expected completed)" in text
