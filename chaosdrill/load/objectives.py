"""Recovery objectives from the load's windows: RTO, RPO, cells' SLO and failback, as users saw them.

Pure functions of the windows a tracking load wrote (``cells``, ``dcs`` and ``session`` in
each stream's line, see :mod:`chaosdrill.load.placement`), so a report rebuilt from an old run
gets the same numbers the probes got. Times are epoch seconds; a window counts by its own
span, so every figure is exact to one window (``window_s`` of the profile).

- **RTO**: from the fault until the affected cells' good ratio (ok + degraded over ok +
  degraded + errors; 429s are neither) is at or above the target in N consecutive windows.
- **RPO**: the acknowledged writes the read-backs found lost, in writes and in seconds of data
  (from the acknowledgement of the first lost write to that of the last).
- **Failback**: when the affected cells' answers come from their home DC again.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from chaosdrill.load.measurements import Window
from chaosdrill.load.placement import LostWriteRow

__all__ = [
    "CellPoint",
    "LostSummary",
    "cell_availability",
    "cell_series",
    "cells_seen",
    "first_home_window",
    "home_cells_of",
    "lost_writes",
    "time_to_recover",
]

# Not a cell: answers no header named (and no earlier answer for the user), and the overflow.
NOT_CELLS = frozenset({"<unknown>", "<other>"})


@dataclass(frozen=True)
class CellPoint:
    """Some cells' answers in one window, summed over streams."""

    t0: float
    t1: float
    good: int
    error: int
    served_by: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        return self.good + self.error

    @property
    def ratio(self) -> float | None:
        return self.good / self.judged if self.judged else None

    def share(self, dc: str) -> float | None:
        """The share of this window's answers that ``dc`` served (None without answers)."""
        total = sum(self.served_by.values())
        return self.served_by.get(dc, 0) / total if total else None


def cells_seen(windows: Iterable[Window]) -> set[str]:
    """Every home cell the load saw answers for."""
    out: set[str] = set()
    for w in windows:
        for s in w.streams.values():
            out.update(c for c in s.cells if c not in NOT_CELLS)
    return out


def cell_series(
    windows: Iterable[Window], cells: Collection[str], streams: Collection[str] | None = None
) -> list[CellPoint]:
    """One point per window: the answers of ``cells`` over the chosen streams."""
    points: list[CellPoint] = []
    for w in windows:
        good = error = 0
        served: dict[str, int] = {}
        for name, s in w.streams.items():
            if streams is not None and name not in streams:
                continue
            for cell in cells:
                o = s.cells.get(cell)
                if o is None:
                    continue
                good += o.good
                error += o.error
                for dc, n in o.served_by.items():
                    served[dc] = served.get(dc, 0) + n
        points.append(CellPoint(w.t0, w.t1, good, error, served))
    return points


def home_cells_of(windows: Iterable[Window], dc: str, until: float, majority: float = 0.5) -> list[str]:
    """The cells that ``dc`` served (more than ``majority`` of their answers) before ``until``:
    the cells its loss affects."""
    served: dict[str, dict[str, int]] = {}
    for w in windows:
        if w.t1 > until:
            continue
        for s in w.streams.values():
            for cell, o in s.cells.items():
                if cell in NOT_CELLS:
                    continue
                row = served.setdefault(cell, {})
                for by, n in o.served_by.items():
                    row[by] = row.get(by, 0) + n
    return sorted(
        cell
        for cell, row in served.items()
        if sum(row.values()) and row.get(dc, 0) / sum(row.values()) > majority
    )


def time_to_recover(
    points: Sequence[CellPoint],
    since: float,
    target: float,
    consecutive: int,
    *,
    until: float | None = None,
    min_requests: int = 1,
    home: str | None = None,
) -> float | None:
    """Seconds from ``since`` to the start of the first run of ``consecutive`` windows (after
    ``since``, ending by ``until``) whose ratio is at least ``target`` over at least
    ``min_requests`` answers, and, with ``home``, served mostly by that DC; None if none."""
    run = 0
    start = 0.0
    for p in points:
        if p.t1 <= since:
            continue
        if until is not None and p.t1 > until:
            break
        ratio = p.ratio
        good = p.judged >= min_requests and ratio is not None and ratio >= target
        if good and home is not None:
            share = p.share(home)
            good = share is not None and share > 0.5
        if not good:
            run = 0
            continue
        if run == 0:
            start = max(p.t0, since)
        run += 1
        if run >= consecutive:
            return start - since
    return None


def first_home_window(points: Sequence[CellPoint], home: str, since: float) -> CellPoint | None:
    """The first window after ``since`` whose answers ``home`` mostly served."""
    for p in points:
        if p.t0 < since:
            continue
        share = p.share(home)
        if share is not None and share > 0.5:
            return p
    return None


def cell_availability(
    windows: Iterable[Window], since: float | None = None, until: float | None = None
) -> dict[str, tuple[int, int]]:
    """(good, errors) per home cell over the windows whose midpoint is in ``[since, until)``."""
    out: dict[str, tuple[int, int]] = {}
    for w in windows:
        if (since is not None and w.mid < since) or (until is not None and w.mid >= until):
            continue
        for s in w.streams.values():
            for cell, o in s.cells.items():
                good, error = out.get(cell, (0, 0))
                out[cell] = (good + o.good, error + o.error)
    return out


@dataclass
class LostSummary:
    """The session read-backs over some windows, and what they found lost."""

    session_windows: int = 0
    writes: int = 0
    acked: int = 0
    reads: int = 0
    read_failed: int = 0
    lost: int = 0
    first_ack: float | None = None
    last_ack: float | None = None
    rows: list[LostWriteRow] = field(default_factory=list)

    @property
    def rpo_s(self) -> float:
        """Seconds of acknowledged data lost: first lost acknowledgement to the last (0 if none)."""
        if self.first_ack is None or self.last_ack is None:
            return 0.0
        return self.last_ack - self.first_ack

    def by(self, key: str) -> dict[str, int]:
        """Listed lost writes counted by ``cell`` or ``acked_by``."""
        out: dict[str, int] = {}
        for r in self.rows:
            name = str(getattr(r, key))
            out[name] = out.get(name, 0) + 1
        return out


def lost_writes(
    windows: Iterable[Window],
    since: float | None = None,
    until: float | None = None,
    streams: Collection[str] | None = None,
    acked_since: float | None = None,
    acked_until: float | None = None,
) -> LostSummary:
    """Session counts over the windows whose midpoint is in ``[since, until)`` (when the loss
    was *found*); with ``acked_since``/``acked_until`` only the lost writes acknowledged in that
    span count (from the listed rows, so then at most LOST_LISTED_MAX per window)."""
    out = LostSummary()
    by_ack = acked_since is not None or acked_until is not None
    for w in windows:
        if (since is not None and w.mid < since) or (until is not None and w.mid >= until):
            continue
        for name, s in w.streams.items():
            ses = s.session
            if ses is None or (streams is not None and name not in streams):
                continue
            out.session_windows += 1
            out.writes += ses.writes
            out.acked += ses.acked
            out.reads += ses.reads
            out.read_failed += ses.read_failed
            rows = [
                r
                for r in ses.lost_writes
                if (acked_since is None or r.acked_at >= acked_since)
                and (acked_until is None or r.acked_at < acked_until)
            ]
            out.rows.extend(rows)
            if by_ack:
                out.lost += len(rows)
                firsts = [r.acked_at for r in rows]
                first = min(firsts, default=None)
                last = max(firsts, default=None)
            else:
                out.lost += ses.lost
                first, last = ses.lost_first_ack, ses.lost_last_ack
            if first is not None:
                out.first_ack = first if out.first_ack is None else min(out.first_ack, first)
            if last is not None:
                out.last_ack = last if out.last_ack is None else max(out.last_ack, last)
    return out
