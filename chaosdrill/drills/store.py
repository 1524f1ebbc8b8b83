"""The drill history store: every drill and rehearsal run, in one SQLite file.

One row per run of one scenario (an experiment of a drill, or a runbook rehearsal), so this
month can be compared with the last: did the RTO creep up, did detection get slower, did a
scenario that passed start failing? The file is small, self-contained and portable, which
is what lets CI carry it from one month to the next (``ci/drill-history.sh``).

The API is deliberately small::

    with open_store(path) as store:
        store.record(Run(plan="sandbox-monthly", scenario="dc-failover", kind="experiment", ...))
        for run in store.runs(scenario="dc-failover"):
            ...

    record(path, Run(..., kind="rehearsal", ttd_s=41.0, ttm_s=300.0))  # one run, one call

A run is identified by (plan, scenario, kind, started_at): recording the same run twice, or
importing the same legacy ``history.jsonl`` twice, adds nothing. Writers take SQLite's own
lock (a busy timeout, not a failure, when two drills finish at once).
"""

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from chaosdrill.drills.history import read_history
from chaosdrill.errors import BadInput

__all__ = ["KINDS", "OUTCOMES", "STORE_VERSION", "Run", "Store", "open_store", "record"]

STORE_VERSION = 1
KINDS = ("experiment", "rehearsal")
OUTCOMES = ("pass", "fail", "aborted")
Kind = Literal["experiment", "rehearsal"]
Outcome = Literal["pass", "fail", "aborted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    plan TEXT NOT NULL,
    scenario TEXT NOT NULL,
    family TEXT,
    started_at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('experiment', 'rehearsal')),
    outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'aborted')),
    guarded INTEGER CHECK (guarded IN (0, 1)),
    rto_s REAL,
    rpo_s REAL,
    budget_consumed_min REAL,
    ttd_s REAL,
    ttm_s REAL,
    availability REAL,
    p99_ms REAL,
    duration_s REAL,
    source TEXT NOT NULL DEFAULT 'drill',
    detail TEXT NOT NULL DEFAULT '{}',
    UNIQUE (plan, scenario, kind, started_at)
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, kind, started_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "plan",
    "scenario",
    "family",
    "started_at",
    "kind",
    "outcome",
    "guarded",
    "rto_s",
    "rpo_s",
    "budget_consumed_min",
    "ttd_s",
    "ttm_s",
    "availability",
    "p99_ms",
    "duration_s",
    "source",
    "detail",
)


def _iso(moment: datetime | str) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Run:
    """One run of one scenario. Times in seconds; ``None`` means not measured."""

    plan: str
    scenario: str
    started_at: str  # ISO 8601, UTC (``Run.at`` builds it from a datetime)
    kind: Kind
    outcome: Outcome
    family: str | None = None
    guarded: bool | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    budget_consumed_min: float | None = None
    ttd_s: float | None = None
    ttm_s: float | None = None
    availability: float | None = None
    p99_ms: float | None = None
    duration_s: float | None = None
    source: str = "drill"
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput("<run>", "kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.outcome not in OUTCOMES:
            raise BadInput("<run>", "outcome", f"{self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        object.__setattr__(self, "started_at", _iso(self.started_at))

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def _row(self) -> tuple[Any, ...]:
        values = {k: getattr(self, k) for k in _COLUMNS}
        values["guarded"] = None if self.guarded is None else int(self.guarded)
        values["detail"] = json.dumps(dict(self.detail), sort_keys=True, default=str)
        return tuple(values[k] for k in _COLUMNS)

    @classmethod
    def _of(cls, row: sqlite3.Row) -> "Run":
        values = {k: row[k] for k in _COLUMNS}
        values["guarded"] = None if row["guarded"] is None else bool(row["guarded"])
        values["detail"] = json.loads(row["detail"] or "{}")
        return cls(**values)


class Store:
    """An open history store; use :func:`open_store`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def record(self, run: Run) -> bool:
        """Add one run; False if the same run (plan, scenario, kind, started_at) is already there."""
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._db:
            cursor = self._db.execute(
                f"INSERT OR IGNORE INTO runs ({', '.join(_COLUMNS)}) VALUES ({marks})", run._row()
            )
        return cursor.rowcount == 1

    def runs(
        self,
        *,
        plan: str | None = None,
        scenario: str | None = None,
        kind: Kind | None = None,
        family: str | None = None,
        since: str | None = None,
    ) -> list[Run]:
        """Matching runs, oldest first."""
        where, args = [], []
        for column, value in (("plan", plan), ("scenario", scenario), ("kind", kind), ("family", family)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("started_at >= ?")
            args.append(_iso(since))
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self._db.execute(sql + " ORDER BY started_at, id", args).fetchall()
        return [Run._of(r) for r in rows]

    def merge_from(self, other: Path) -> int:
        """Add every run of another store (e.g. the copy CI carried); returns the runs added."""
        with open_store(other) as theirs:
            return sum(self.record(run) for run in theirs.runs())

    def import_jsonl(self, path: Path) -> int:
        """Import a legacy ``history.jsonl`` (one drill per line); returns the runs added."""
        added = 0
        for entry in read_history(path):
            for e in entry.experiments:
                budget = None
                if e.availability is not None and e.duration_s is not None:
                    budget = round((1.0 - e.availability) * e.duration_s / 60.0, 6)
                outcome: Outcome = "pass" if e.passed else ("aborted" if e.actual is None else "fail")
                added += self.record(
                    Run(
                        plan=entry.plan,
                        scenario=e.name,
                        started_at=entry.date,
                        kind="experiment",
                        outcome=outcome,
                        availability=e.availability,
                        p99_ms=e.p99_ms,
                        duration_s=e.duration_s,
                        budget_consumed_min=budget,
                        source="history.jsonl",
                        detail={"expected": e.expected, "actual": e.actual, "target": entry.target},
                    )
                )
        return added


@contextmanager
def open_store(path: Path) -> Iterator[Store]:
    """Open (creating if needed) the store at ``path``; BadInput if it is not one of ours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0)
    db.row_factory = sqlite3.Row
    try:
        try:
            db.executescript(_SCHEMA)
            found = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise BadInput(str(path), "<file>", f"not a drill history store: {e}") from e
        if found is None:
            with db:
                db.execute("INSERT INTO meta (key, value) VALUES ('version', ?)", (str(STORE_VERSION),))
        elif int(found["value"]) > STORE_VERSION:
            raise BadInput(
                str(path), "meta.version", f"{found['value']} is newer than this chaosdrill ({STORE_VERSION})"
            )
        yield Store(db, path)
    finally:
        db.close()


def record(path: Path, run: Run) -> bool:
    """Open the store at ``path``, add one run (e.g. a rehearsal's), close it."""
    with open_store(path) as store:
        return store.record(run)
