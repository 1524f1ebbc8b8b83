"""Reading measurements.jsonl: the one API that probes, the guardrail and reports use.

The file is being appended to while it is read (a probe runs during the load), so a torn
last line is normal and skipped, never an error. Everything here is a pure function of the
file's content, so a report rebuilt from an old run sees exactly what the probes saw.

Window selection: a window belongs to ``[since, until)`` when its midpoint does. Windows
are short (0.25 s by default), so this neither drops the window a fault started in nor
counts one that mostly precedes it. ``inside`` is the strict selection (a window wholly
within the bounds), for a baseline that must hold none of the fault.

A summary merges its windows' latency histograms only when a percentile is asked for:
counting probes never decode a histogram, and finer windows cost them nothing.
"""

import fnmatch
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chaosdrill.errors import BadInput
from chaosdrill.load.placement import Outcomes, SessionWindow, parse_outcomes_by, parse_session

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

__all__ = [
    "StreamWindow",
    "Summary",
    "TimelinePoint",
    "Window",
    "WindowTail",
    "aggregate",
    "inside",
    "parse_window",
    "read_meta",
    "read_windows",
    "select",
    "timeline",
]


@dataclass(frozen=True)
class StreamWindow:
    """One stream's counts in one window, exactly as the recorder wrote them."""

    name: str
    tenant: str
    priority: str
    target_rate: float
    sent: int
    ok: int
    degraded: int
    rejected: int
    error: int
    errors: Mapping[str, int]
    rejected_without_retry_after: int
    degraded_malformed: int
    hist: str
    hist_good: str
    served_by: Mapping[str, int] = field(default_factory=dict)  # empty: not tracked, or none seen
    # With tracking (chaosdrill.load.placement): per home cell, per serving DC, and sessions.
    cells: Mapping[str, Outcomes] = field(default_factory=dict)
    dcs: Mapping[str, Outcomes] = field(default_factory=dict)
    session: SessionWindow | None = None

    @property
    def completed(self) -> int:
        return self.ok + self.degraded + self.rejected + self.error


@dataclass(frozen=True)
class Window:
    t0: float
    t1: float
    streams: Mapping[str, StreamWindow]

    @property
    def mid(self) -> float:
        return (self.t0 + self.t1) / 2


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _counts(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int | float)}


def _stream_window(name: str, doc: Mapping[str, Any]) -> StreamWindow:
    errors = doc.get("errors") or {}
    return StreamWindow(
        name=name,
        tenant=str(doc.get("tenant", "")),
        priority=str(doc.get("priority", "")),
        target_rate=float(doc.get("target_rate", 0.0)),
        sent=_int(doc, "sent"),
        ok=_int(doc, "ok"),
        degraded=_int(doc, "degraded"),
        rejected=_int(doc, "rejected"),
        error=_int(doc, "error"),
        errors={str(k): int(v) for k, v in errors.items()},
        rejected_without_retry_after=_int(doc, "rejected_without_retry_after"),
        degraded_malformed=_int(doc, "degraded_malformed"),
        hist=str(doc.get("hist", "")),
        hist_good=str(doc.get("hist_good", "")),
        served_by=_counts(doc.get("served_by")),
        cells=parse_outcomes_by(doc.get("cells")),
        dcs=parse_outcomes_by(doc.get("dcs")),
        session=parse_session(doc.get("session")),
    )


def _lines(path: Path) -> Iterable[dict[str, Any]]:
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError as e:
        raise BadInput(str(path), "<file>", "no measurements here (was the load started?)") from e
    with fh:
        for raw in fh:
            if not raw.endswith("\n"):
                return  # torn last line: the writer is mid-append, or crashed
            try:
                doc = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                yield doc


def read_meta(path: Path) -> dict[str, Any]:
    """The ``meta`` line: the profile the load ran with, plus ``started`` and ``window_s``."""
    for doc in _lines(path):
        meta = doc.get("meta")
        if isinstance(meta, dict):
            return meta
    return {}


def parse_window(doc: Mapping[str, Any]) -> Window | None:
    """One ``measurements.jsonl`` line as a :class:`Window`; None for the meta line or a
    line that is not a window. The one parser every reader (report, probes, guardrail) uses."""
    if "meta" in doc or "t0" not in doc or "t1" not in doc:
        return None
    streams = doc.get("streams") or {}
    if not isinstance(streams, Mapping):
        return None
    return Window(
        t0=float(doc["t0"]),
        t1=float(doc["t1"]),
        streams={str(n): _stream_window(str(n), s) for n, s in streams.items() if isinstance(s, Mapping)},
    )


def read_windows(path: Path) -> list[Window]:
    """Every complete window in the file, oldest first."""
    return [w for w in map(parse_window, _lines(path)) if w is not None]


class WindowTail:
    """The windows appended to a measurements file since the last call (a live reader)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._partial = ""

    def new_windows(self) -> list[Window]:
        if self._fh is None:
            try:
                self._fh = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed in close()
            except FileNotFoundError:
                return []
        chunk = self._partial + self._fh.read()
        lines = chunk.split("\n")
        self._partial = lines.pop()  # "" after a complete line; a torn tail otherwise
        out = []
        for raw in lines:
            try:
                doc = json.loads(raw)
            except json.JSONDecodeError:
                continue
            window = parse_window(doc) if isinstance(doc, dict) else None
            if window is not None:
                out.append(window)
        return out

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _matches(value: str, patterns: Collection[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(value, p) for p in patterns)


def select(
    windows: Iterable[Window],
    since: float | None = None,
    until: float | None = None,
    streams: Collection[str] | None = None,
    tenants: Collection[str] | None = None,
) -> list[tuple[Window, list[StreamWindow]]]:
    """Windows whose midpoint is in ``[since, until)``, each with its matching streams.

    ``streams`` and ``tenants`` hold names or shell-style globs; ``None`` matches all.
    """
    out: list[tuple[Window, list[StreamWindow]]] = []
    for w in windows:
        if (since is not None and w.mid < since) or (until is not None and w.mid >= until):
            continue
        chosen = [s for s in w.streams.values() if _matches(s.name, streams) and _matches(s.tenant, tenants)]
        out.append((w, chosen))
    return out


def inside(windows: Iterable[Window], since: float | None = None, until: float | None = None) -> list[Window]:
    """The windows lying wholly in ``[since, until]`` (``t0 >= since`` and ``t1 <= until``);
    ``None`` leaves that side open."""
    return [w for w in windows if (since is None or w.t0 >= since) and (until is None or w.t1 <= until)]


def _histogram() -> "HdrHistogram":
    # Lazy for start-up time: the guardrail reads windows on every run and needs no histogram;
    # the HDR stack is imported only when a summary is built.
    from chaosdrill.load.recorder import new_histogram

    return new_histogram()


@dataclass
class Summary:
    """Totals over a selection of windows and streams, with merged latency histograms."""

    windows: int = 0
    t0: float | None = None
    t1: float | None = None
    sent: int = 0
    ok: int = 0
    degraded: int = 0
    rejected: int = 0
    error: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rejected_without_retry_after: int = 0
    degraded_malformed: int = 0
    served_by: dict[str, int] = field(default_factory=dict)
    # Encoded histograms not merged yet: merged (decoded) on the first percentile asked for.
    _pending: list[str] = field(default_factory=list, repr=False)
    _pending_good: list[str] = field(default_factory=list, repr=False)
    _hist: "HdrHistogram | None" = field(default=None, repr=False)
    _hist_good: "HdrHistogram | None" = field(default=None, repr=False)

    @property
    def completed(self) -> int:
        return self.ok + self.degraded + self.rejected + self.error

    @property
    def good(self) -> int:
        return self.ok + self.degraded

    @property
    def good_ratio(self) -> float | None:
        """(ok + degraded) / completed; ``None`` when nothing completed (no evidence either way)."""
        return self.good / self.completed if self.completed else None

    @property
    def error_ratio(self) -> float | None:
        return self.error / self.completed if self.completed else None

    @property
    def duration_s(self) -> float:
        return 0.0 if self.t0 is None or self.t1 is None else self.t1 - self.t0

    @staticmethod
    def _merged(current: "HdrHistogram | None", pending: list[str]) -> "HdrHistogram":
        from hdrh.histogram import HdrHistogram  # lazy: see _histogram

        if current is None and len(pending) == 1:
            merged = HdrHistogram.decode(pending[0])  # one window (a timeline point): no merge needed
        else:
            merged = _histogram() if current is None else current
            for encoded in pending:
                merged.decode_and_add(encoded)
        pending.clear()
        return merged

    @property
    def hist(self) -> "HdrHistogram":
        """Latencies of every completed request, merged over the selected windows."""
        if self._hist is None or self._pending:
            self._hist = self._merged(self._hist, self._pending)
        return self._hist

    @property
    def hist_good(self) -> "HdrHistogram":
        """Latencies of the ok and degraded answers, merged over the selected windows."""
        if self._hist_good is None or self._pending_good:
            self._hist_good = self._merged(self._hist_good, self._pending_good)
        return self._hist_good

    def percentile(self, q: float, *, good_only: bool = False) -> float | None:
        """Latency at percentile ``q`` (0-100) in seconds, of every completed request
        (or of ok+degraded ones with ``good_only``); ``None`` when there are none."""
        if not 0.0 <= q <= 100.0:
            raise BadInput("<measurements>", "percentile", f"must be between 0 and 100, got {q!r}")
        hist = self.hist_good if good_only else self.hist
        if hist.get_total_count() == 0:
            return None
        return float(hist.get_value_at_percentile(q)) / 1e6

    def add(self, w: Window, streams: Iterable[StreamWindow]) -> None:
        self.windows += 1
        self.t0 = w.t0 if self.t0 is None else min(self.t0, w.t0)
        self.t1 = w.t1 if self.t1 is None else max(self.t1, w.t1)
        for s in streams:
            self.sent += s.sent
            self.ok += s.ok
            self.degraded += s.degraded
            self.rejected += s.rejected
            self.error += s.error
            for reason, n in s.errors.items():
                self.errors[reason] = self.errors.get(reason, 0) + n
            self.rejected_without_retry_after += s.rejected_without_retry_after
            self.degraded_malformed += s.degraded_malformed
            for value, n in s.served_by.items():
                self.served_by[value] = self.served_by.get(value, 0) + n
            if s.hist and s.ok + s.degraded + s.rejected + s.error:
                self._pending.append(s.hist)
            if s.hist_good and s.ok + s.degraded:
                self._pending_good.append(s.hist_good)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able totals and the usual percentiles, for probe results and reports
        (with ``served_by`` only when the load counted which DC answered)."""
        out: dict[str, Any] = {
            "windows": self.windows,
            "t0": self.t0,
            "t1": self.t1,
            "sent": self.sent,
            "completed": self.completed,
            "ok": self.ok,
            "degraded": self.degraded,
            "rejected": self.rejected,
            "error": self.error,
            "errors": dict(self.errors),
            "rejected_without_retry_after": self.rejected_without_retry_after,
            "degraded_malformed": self.degraded_malformed,
            "good_ratio": self.good_ratio,
            "p50_s": self.percentile(50),
            "p95_s": self.percentile(95),
            "p99_s": self.percentile(99),
            "p99_good_s": self.percentile(99, good_only=True),
        }
        if self.served_by:
            out["served_by"] = dict(self.served_by)
        return out


def aggregate(
    windows: Iterable[Window],
    since: float | None = None,
    until: float | None = None,
    streams: Collection[str] | None = None,
    tenants: Collection[str] | None = None,
) -> Summary:
    """Totals over the windows in ``[since, until)`` for the matching streams and tenants."""
    summary = Summary()
    for w, chosen in select(windows, since, until, streams, tenants):
        summary.add(w, chosen)
    return summary


@dataclass(frozen=True)
class TimelinePoint:
    """One window, summed over the chosen streams: what a chart plots against time."""

    t0: float
    t1: float
    target_rate: float
    sent: int
    ok: int
    degraded: int
    rejected: int
    error: int
    good_ratio: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None

    @property
    def completed(self) -> int:
        return self.ok + self.degraded + self.rejected + self.error

    @property
    def throughput(self) -> float:
        """Completed requests per second in this window."""
        span = self.t1 - self.t0
        return self.completed / span if span > 0 else 0.0


def timeline(
    windows: Iterable[Window],
    streams: Collection[str] | None = None,
    tenants: Collection[str] | None = None,
) -> list[TimelinePoint]:
    """One point per window, oldest first."""
    points: list[TimelinePoint] = []
    for w, chosen in select(windows, None, None, streams, tenants):
        s = Summary()
        s.add(w, chosen)
        points.append(
            TimelinePoint(
                t0=w.t0,
                t1=w.t1,
                target_rate=sum(x.target_rate for x in chosen),
                sent=s.sent,
                ok=s.ok,
                degraded=s.degraded,
                rejected=s.rejected,
                error=s.error,
                good_ratio=s.good_ratio,
                p50_s=s.percentile(50),
                p95_s=s.percentile(95),
                p99_s=s.percentile(99),
            )
        )
    return points
