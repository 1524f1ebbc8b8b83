"""Windowed recording of outcomes and latencies into measurements.jsonl.

Probes, the guardrail and reports read the file while the load is still running, so each
window is appended and flushed the moment it closes; the recorder keeps only the open
window in memory, which is what keeps its memory flat over a long drill. Counts are by
*completion* time (a window says what the clients saw during it); latency is measured from
each request's *scheduled* time, so a stalled server shows up in full (no coordinated
omission). Latencies go into HDR histograms (1 us .. 60 s, 3 significant digits), encoded
with the library's own compressed format so readers can merge windows exactly.
"""

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from hdrh.histogram import HdrHistogram

from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict
from chaosdrill.load.session import LostWrite

__all__ = [
    "HIST_HIGHEST_US",
    "HIST_LOWEST_US",
    "HIST_SIGNIFICANT",
    "LOST_LISTED_MAX",
    "SERVED_BY_MAX_VALUES",
    "SERVED_BY_OVERFLOW",
    "UNKNOWN_CELL",
    "Recorder",
    "StreamInfo",
    "new_histogram",
]

HIST_LOWEST_US = 1
HIST_HIGHEST_US = 60_000_000
HIST_SIGNIFICANT = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_SIGNIFICANT)


class StreamInfo:
    """What the recorder needs to know about a stream to label its windows."""

    __slots__ = ("name", "priority", "tenant")

    def __init__(self, name: str, tenant: str, priority: str) -> None:
        self.name = name
        self.tenant = tenant
        self.priority = priority


class _Counts:
    """One stream's tallies for the open window; reset, not reallocated, when it closes."""

    __slots__ = (
        "cell_dcs",
        "cells",
        "dcs",
        "degraded",
        "degraded_malformed",
        "error",
        "errors",
        "hist",
        "hist_good",
        "lost",
        "ok",
        "rejected",
        "rejected_without_retry_after",
        "s_acked",
        "s_read_failed",
        "s_reads",
        "s_writes",
        "sent",
        "served_by",
    )

    def __init__(self) -> None:
        self.hist = new_histogram()
        self.hist_good = new_histogram()
        self.errors: dict[str, int] = {}
        self.served_by: dict[str, int] = {}
        # With tracking: [ok, degraded, rejected, error] per home cell and per serving DC,
        # and per home cell the answers of each serving DC.
        self.cells: dict[str, list[int]] = {}
        self.cell_dcs: dict[str, dict[str, int]] = {}
        self.dcs: dict[str, list[int]] = {}
        self.lost: list[LostWrite] = []
        self.clear()

    def clear(self) -> None:
        self.sent = self.ok = self.degraded = self.rejected = self.error = 0
        self.rejected_without_retry_after = self.degraded_malformed = 0
        self.s_writes = self.s_acked = self.s_reads = self.s_read_failed = 0
        self.errors.clear()
        self.served_by.clear()
        self.cells.clear()
        self.cell_dcs.clear()
        self.dcs.clear()
        self.lost = []
        if self.hist.get_total_count():
            self.hist.reset()
        if self.hist_good.get_total_count():
            self.hist_good.reset()


def _count_served_by(counts: dict[str, int], raw: bytes) -> None:
    key = raw[:SERVED_BY_MAX_LEN].decode("latin-1")
    if key not in counts and len(counts) >= SERVED_BY_MAX_VALUES:
        key = SERVED_BY_OVERFLOW
    counts[key] = counts.get(key, 0) + 1


def _session_doc(c: _Counts) -> dict[str, Any]:
    lost = c.lost
    return {
        "writes": c.s_writes,
        "acked": c.s_acked,
        "reads": c.s_reads,
        "read_failed": c.s_read_failed,
        "lost": len(lost),
        "lost_first_ack": min((w.acked_at for w in lost), default=None),
        "lost_last_ack": max((w.acked_at for w in lost), default=None),
        # [user, seq, acked_at, acked_by, cell, found, detected_at], oldest acknowledgement first.
        "lost_writes": [
            [f"u{w.user}", w.seq, w.acked_at, w.acked_by, w.cell, w.found, w.detected_at]
            for w in sorted(lost, key=lambda w: w.acked_at)[:LOST_LISTED_MAX]
        ],
    }


def _clamp_us(latency_s: float) -> int:
    us = int(latency_s * 1e6)
    if us < HIST_LOWEST_US:
        return HIST_LOWEST_US
    return us if us <= HIST_HIGHEST_US else HIST_HIGHEST_US


_TOTAL_KEYS = ("sent", "ok", "degraded", "rejected", "error")
_OUTCOME_INDEX = {Outcome.OK: 0, Outcome.DEGRADED: 1, Outcome.REJECTED: 2, Outcome.ERROR: 3}
_OUTCOME_KEYS = ("ok", "degraded", "rejected", "error")
UNKNOWN_CELL = "<unknown>"  # no answer named the user's cell (nor any earlier one)
NO_DC = "<none>"  # no answer, so no serving DC
LOST_LISTED_MAX = 500  # lost writes listed one by one per window and stream (all are counted)
# A served-by header is the server's text: keep a window's line small whatever it sends.
SERVED_BY_MAX_VALUES = 32
SERVED_BY_MAX_LEN = 64
SERVED_BY_OVERFLOW = "<other>"


class Recorder:
    """Tallies per window and stream, writing one JSON line per closed window.

    Times given to it are epoch seconds and must not go backwards. ``target_rates`` is
    asked, at each window close, for each stream's current target rate (surges change it).
    With ``track_served_by`` each stream's line also counts responses per served-by value
    (which DC answered), under ``served_by``; lines without it mean it was not tracked.
    With ``track_cells`` it also counts outcomes per home cell (``cells``, each with the DCs
    that served it) and per serving DC (``dcs``); a request with no answer counts against its
    user's last known cell, or ``<unknown>``, and DC ``<none>``. A session stream's line (the
    indexes in ``session_streams``) gets ``session``: writes, acknowledged writes, read-backs,
    failed read-backs, and the acknowledged writes the read-backs found lost.
    """

    def __init__(
        self,
        path: Path,
        streams: Sequence[StreamInfo],
        *,
        window_s: float,
        start: float,
        meta: Mapping[str, Any],
        target_rates: Callable[[], Sequence[float]],
        track_served_by: bool = False,
        track_cells: bool = False,
        session_streams: Sequence[int] = (),
    ) -> None:
        self.path = path
        self.track_served_by = track_served_by
        self.track_cells = track_cells
        self.session_streams = frozenset(session_streams)
        self._names: dict[bytes, str] = {}
        self.streams = list(streams)
        self.window_s = window_s
        self._start = start
        self._target_rates = target_rates
        self._counts = [_Counts() for _ in self.streams]
        self._totals = [dict.fromkeys(_TOTAL_KEYS, 0) for _ in self.streams]
        self._index = 0  # the open window is [start + index*w, start + (index+1)*w)
        self.t0 = start
        self.t1 = start + window_s
        self.windows_written = 0
        self.closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the recorder
        self._write({"meta": {**meta, "started": start, "window_s": window_s}})

    def _write(self, doc: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self._fh.flush()

    # The hot path: called once per scheduled request and once per completed request.
    def sent(self, stream: int, now: float, n: int = 1) -> None:
        """Count ``n`` requests scheduled (issued) at ``now``."""
        if now >= self.t1:
            self.roll(now)
        self._counts[stream].sent += n

    def record(
        self,
        stream: int,
        verdict: Verdict,
        latency_s: float,
        now: float,
        served_by: bytes | None = None,
        cell: bytes | None = None,
    ) -> None:
        """Count one completed request; ``now`` is its completion time, ``served_by`` the raw
        value of the served-by header if the answer had one, ``cell`` the user's home cell."""
        if now >= self.t1:
            self.roll(now)
        c = self._counts[stream]
        if served_by is not None:
            _count_served_by(c.served_by, served_by)
        if self.track_cells:
            self._count_cell(c, verdict.outcome, served_by, cell)
        us = _clamp_us(latency_s)
        c.hist.record_value(us)
        outcome = verdict.outcome
        if outcome is Outcome.OK:
            c.ok += 1
            c.hist_good.record_value(us)
        elif outcome is Outcome.DEGRADED:
            c.degraded += 1
            c.hist_good.record_value(us)
            if verdict.malformed:
                c.degraded_malformed += 1
        elif outcome is Outcome.REJECTED:
            c.rejected += 1
            if verdict.no_retry_after:
                c.rejected_without_retry_after += 1
        else:
            c.error += 1
            key = (verdict.reason or ErrorReason.OTHER).value
            c.errors[key] = c.errors.get(key, 0) + 1

    def _name(self, raw: bytes | None, missing: str) -> str:
        if raw is None:
            return missing
        name = self._names.get(raw)
        if name is None:
            name = raw[:SERVED_BY_MAX_LEN].decode("latin-1")
            if len(self._names) < 4 * SERVED_BY_MAX_VALUES:
                self._names[raw] = name
        return name

    def _count_cell(self, c: _Counts, outcome: Outcome, served_by: bytes | None, cell: bytes | None) -> None:
        i = _OUTCOME_INDEX[outcome]
        home = self._name(cell, UNKNOWN_CELL)
        dc = self._name(served_by, NO_DC)
        cells = c.cells
        row = cells.get(home)
        if row is None:
            if len(cells) >= SERVED_BY_MAX_VALUES:
                home = SERVED_BY_OVERFLOW
            row = cells.setdefault(home, [0, 0, 0, 0])
        row[i] += 1
        if served_by is not None:
            by = c.cell_dcs.get(home)
            if by is None:
                by = c.cell_dcs[home] = {}
            _count_served_by(by, served_by)
        dcs = c.dcs
        row = dcs.get(dc)
        if row is None:
            if len(dcs) >= SERVED_BY_MAX_VALUES:
                dc = SERVED_BY_OVERFLOW
            row = dcs.setdefault(dc, [0, 0, 0, 0])
        row[i] += 1

    def session_write(self, stream: int, acked: bool) -> None:
        """Count a session write's answer (after :meth:`record` counted the request)."""
        c = self._counts[stream]
        c.s_writes += 1
        if acked:
            c.s_acked += 1

    def session_read(self, stream: int, lost: list[LostWrite] | None) -> None:
        """Count a session read-back: ``lost`` are the writes it found missing, None when it
        could not be judged."""
        c = self._counts[stream]
        c.s_reads += 1
        if lost is None:
            c.s_read_failed += 1
        elif lost:
            c.lost.extend(lost)

    def roll(self, now: float) -> None:
        """Close every window that ended at or before ``now`` (empty ones included)."""
        while now >= self.t1 and not self.closed:
            self._flush(self.t1)
            self._index += 1
            self.t0 = self.t1
            self.t1 = self._start + (self._index + 1) * self.window_s

    def _flush(self, t1: float) -> None:
        rates = self._target_rates()
        streams: dict[str, Any] = {}
        for index, (info, c, rate, total) in enumerate(
            zip(self.streams, self._counts, rates, self._totals, strict=True)
        ):
            for key in _TOTAL_KEYS:
                total[key] += getattr(c, key)
            streams[info.name] = {
                "tenant": info.tenant,
                "priority": info.priority,
                "target_rate": float(rate),
                "sent": c.sent,
                "ok": c.ok,
                "degraded": c.degraded,
                "rejected": c.rejected,
                "error": c.error,
                "errors": dict(c.errors),
                "rejected_without_retry_after": c.rejected_without_retry_after,
                "degraded_malformed": c.degraded_malformed,
                "hist": c.hist.encode().decode("ascii"),
                "hist_good": c.hist_good.encode().decode("ascii"),
            }
            if self.track_served_by:
                streams[info.name]["served_by"] = dict(c.served_by)
            if self.track_cells:
                streams[info.name]["cells"] = {
                    cell: {
                        **dict(zip(_OUTCOME_KEYS, row, strict=True)),
                        "served_by": dict(c.cell_dcs.get(cell, {})),
                    }
                    for cell, row in c.cells.items()
                }
                streams[info.name]["dcs"] = {
                    dc: dict(zip(_OUTCOME_KEYS, row, strict=True)) for dc, row in c.dcs.items()
                }
            if index in self.session_streams:
                streams[info.name]["session"] = _session_doc(c)
            c.clear()
        self._write({"t0": self.t0, "t1": t1, "streams": streams})
        self.windows_written += 1

    def totals(self) -> dict[str, dict[str, int]]:
        """Counts since the start per stream, the open window included (for live progress)."""
        return {
            info.name: {key: total[key] + getattr(c, key) for key in _TOTAL_KEYS}
            for info, c, total in zip(self.streams, self._counts, self._totals, strict=True)
        }

    def close(self, now: float | None = None) -> None:
        """Flush the open window, cut short at ``now``, and close the file. Idempotent."""
        if self.closed:
            return
        end = time.time() if now is None else now
        self.roll(end)
        if end > self.t0:
            self._flush(min(end, self.t1))
        self.closed = True
        self._fh.close()
