"""The SQLite history store, the legacy import, and the regressions `drill history` flags."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chaosdrill import cli
from chaosdrill.drills.history import ExperimentTrend, HistoryEntry, append_history
from chaosdrill.drills.store import Run, open_store, record
from chaosdrill.drills.trends import regressions, trend_table
from chaosdrill.errors import BadInput

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def _run(scenario: str, when: str, outcome: str = "pass", **measures: Any) -> Run:
    return Run(
        plan="monthly", scenario=scenario, started_at=when, kind="experiment", outcome=outcome, **measures
    )  # type: ignore[arg-type]


def test_record_and_read_back_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "h" / "drill-history.sqlite"
    with open_store(path) as store:
        assert store.record(
            _run("dc-failover", "2027-02-01T03:00:00+00:00", rto_s=2.5, guarded=True, family="dc")
        )
        assert store.record(_run("dc-failover", "2027-01-01T03:00:00", rto_s=2.0, guarded=False))
        assert not store.record(_run("dc-failover", "2027-01-01T03:00:00+00:00", rto_s=9.0))  # same run
    assert record(  # the one-call form the rehearsal helper uses
        path,
        Run(
            plan="monthly",
            scenario="dc-loss.md",
            started_at="2027-02-01T04:00:00+00:00",
            kind="rehearsal",
            outcome="pass",
            ttd_s=41.0,
            ttm_s=300.0,
        ),
    )
    with open_store(path) as store:  # survives a reopen
        runs = store.runs(scenario="dc-failover")
        assert [r.rto_s for r in runs] == [2.0, 2.5]
        assert [r.guarded for r in runs] == [False, True] and runs[1].family == "dc"
        assert runs[0].started_at == "2027-01-01T03:00:00+00:00"  # naive taken as UTC
        rehearsals = store.runs(kind="rehearsal")
        assert [(r.scenario, r.ttd_s, r.ttm_s) for r in rehearsals] == [("dc-loss.md", 41.0, 300.0)]


def test_bad_run_and_foreign_file_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        Run(plan="p", scenario="s", started_at="2027-01-01", kind="drill", outcome="pass")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        Run(plan="p", scenario="s", started_at="2027-01-01", kind="experiment", outcome="ok")  # type: ignore[arg-type]
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all, just bytes" * 10)
    with pytest.raises(BadInput) as info, open_store(junk):
        pass
    assert info.value.source == str(junk)


def test_legacy_jsonl_import_is_complete_and_idempotent(tmp_path: Path) -> None:
    legacy = tmp_path / "history.jsonl"
    for date, ok in (("2026-11-01T03:00:00+00:00", True), ("2026-12-01T03:00:00+00:00", False)):
        append_history(
            legacy,
            HistoryEntry(
                date=date,
                plan="sandbox-monthly",
                plan_file="p.yaml",
                target="sandbox",
                exit_code=0 if ok else 1,
                out="reports",
                experiments=(
                    ExperimentTrend(
                        "az-outage", "completed", "completed" if ok else "deviated", ok, 0.999, 120.0, 30.0
                    ),
                    ExperimentTrend("redis", "completed", "completed", True, 1.0, 80.0, 20.0),
                ),
            ),
        )
    with open_store(tmp_path / "s.sqlite") as store:
        assert store.import_jsonl(legacy) == 4
        assert store.import_jsonl(legacy) == 0
        runs = store.runs(scenario="az-outage")
    assert [r.outcome for r in runs] == ["pass", "fail"]
    assert runs[0].budget_consumed_min == pytest.approx(0.001 * 30 / 60)
    assert runs[0].source == "history.jsonl" and runs[0].availability == 0.999


def _planted(path: Path) -> None:
    with open_store(path) as store:
        jan, feb = "2027-01-01T03:00:00+00:00", "2027-02-01T03:00:00+00:00"
        # regressions
        store.record(_run("breaker", jan, "pass"))
        store.record(_run("breaker", feb, "fail"))
        store.record(_run("dc-failover", jan, rto_s=2.0, ttd_s=8.0))
        store.record(_run("dc-failover", feb, rto_s=2.6, ttd_s=8.5))  # RTO +30 %, TTD +6 %
        store.record(_run("redis", jan, budget_consumed_min=0.10))
        store.record(_run("redis", feb, budget_consumed_min=0.30))
        # not regressions: within the margin, improved, noise below the floor, unmeasured, fixed
        store.record(_run("zone", jan, rto_s=3.0, ttd_s=10.0, budget_consumed_min=0.5))
        store.record(_run("zone", feb, rto_s=3.5, ttd_s=6.0, budget_consumed_min=0.4))
        store.record(_run("tiny", jan, budget_consumed_min=0.001))
        store.record(_run("tiny", feb, budget_consumed_min=0.004))
        store.record(_run("kill", jan, rto_s=None))
        store.record(_run("kill", feb, rto_s=9.0))
        store.record(_run("surge", jan, "fail"))
        store.record(_run("surge", feb, "pass"))
        # only the previous run counts: an old bad run does not hide a new regression
        store.record(_run("old", "2026-12-01T03:00:00+00:00", rto_s=10.0))
        store.record(_run("old", jan, rto_s=1.0))
        store.record(_run("old", feb, rto_s=5.0))


def test_planted_regressions_are_flagged_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "drill-history.sqlite"
    _planted(path)
    with open_store(path) as store:
        runs = store.runs()
    found = {(r.scenario, r.what.split(" up")[0]) for r in regressions(runs, margin=0.2)}
    assert found == {
        ("breaker", "pass -> fail"),
        ("dc-failover", "RTO"),
        ("redis", "budget consumed"),
        ("old", "RTO"),
    }
    # a wider margin lets the 30 % RTO rise pass; the 5x one stays flagged
    wide = {(r.scenario, r.what.split(" up")[0]) for r in regressions(runs, margin=0.5)}
    assert ("dc-failover", "RTO") not in wide and ("old", "RTO") in wide
    text = Console(width=220, record=True)
    text.print(trend_table(runs, flagged=regressions(runs)))
    assert "2.00s > 2.60s" in text.export_text()


def test_history_command_flags_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "drill-history.sqlite"
    _planted(path)
    assert cli.main(["drill", "history", "--history", str(path)]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION breaker (experiment): pass -> fail" in out
    assert "REGRESSION zone" not in out and "REGRESSION surge" not in out
    assert cli.main(["drill", "history", "--history", str(path), "--fail-on-regression"]) == 1
    capsys.readouterr()
    assert (
        cli.main(["drill", "history", "--history", str(path), "--scenario", "zone", "--fail-on-regression"])
        == 0
    )
    assert "no regressions" in capsys.readouterr().out


def test_store_is_plain_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with open_store(path) as store:
        store.record(_run("x", "2027-01-01T00:00:00+00:00", guarded=True, rto_s=1.5))
    row = sqlite3.connect(path).execute("SELECT scenario, kind, outcome, guarded, rto_s FROM runs").fetchone()
    assert row == ("x", "experiment", "pass", 1, 1.5)


def test_merge_from_another_store_adds_only_what_is_missing(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.sqlite", tmp_path / "theirs.sqlite"
    with open_store(ours) as store:
        store.record(_run("a", "2027-01-01T03:00:00+00:00"))
    with open_store(theirs) as store:
        store.record(_run("a", "2027-01-01T03:00:00+00:00"))
        store.record(_run("b", "2027-02-01T03:00:00+00:00", rto_s=1.0))
    with open_store(ours) as store:
        assert store.merge_from(theirs) == 1
        assert [r.scenario for r in store.runs()] == ["a", "b"]
