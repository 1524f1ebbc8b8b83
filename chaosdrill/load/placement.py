"""Where requests went and what sessions lost: the parts of a window a tracking load adds.

With tracking (``Profile.tracking``) each stream's window line also holds ``cells`` (outcomes
per home cell, with the DCs that served it), ``dcs`` (outcomes per serving DC) and, for a
session stream, ``session`` (writes, acknowledgements, read-backs and the acknowledged writes
found lost). These are their typed forms; a line without them parses to empty values, so
readers of older files see "not tracked".
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LostWriteRow", "Outcomes", "SessionWindow", "parse_outcomes_by", "parse_session"]


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Outcomes:
    """Answers of one home cell (or one serving DC) in one window."""

    ok: int = 0
    degraded: int = 0
    rejected: int = 0
    error: int = 0
    served_by: Mapping[str, int] = field(default_factory=dict)  # for a cell: answers per serving DC

    @property
    def good(self) -> int:
        return self.ok + self.degraded

    @property
    def judged(self) -> int:
        """Answers that count for availability: good ones and errors (429s are neither)."""
        return self.ok + self.degraded + self.error


def parse_outcomes_by(raw: Any) -> dict[str, Outcomes]:
    """A window's ``cells`` or ``dcs`` mapping; ``{}`` when absent or malformed."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Outcomes] = {}
    for name, doc in raw.items():
        if not isinstance(doc, Mapping):
            continue
        served = doc.get("served_by")
        out[str(name)] = Outcomes(
            ok=_int(doc, "ok"),
            degraded=_int(doc, "degraded"),
            rejected=_int(doc, "rejected"),
            error=_int(doc, "error"),
            served_by={str(k): int(v) for k, v in served.items() if isinstance(v, int)}
            if isinstance(served, Mapping)
            else {},
        )
    return out


@dataclass(frozen=True)
class LostWriteRow:
    """One acknowledged write a read-back did not find."""

    user: str
    seq: int
    acked_at: float
    acked_by: str
    cell: str
    found: int
    detected_at: float


@dataclass(frozen=True)
class SessionWindow:
    """A session stream's writes and read-backs in one window."""

    writes: int = 0
    acked: int = 0
    reads: int = 0
    read_failed: int = 0
    lost: int = 0
    lost_first_ack: float | None = None
    lost_last_ack: float | None = None
    lost_writes: tuple[LostWriteRow, ...] = ()  # the first LOST_LISTED_MAX of ``lost``


def _row(raw: Any) -> LostWriteRow | None:
    if not isinstance(raw, list) or len(raw) != 7:
        return None
    try:
        return LostWriteRow(
            str(raw[0]), int(raw[1]), float(raw[2]), str(raw[3]), str(raw[4]), int(raw[5]), float(raw[6])
        )
    except (TypeError, ValueError):
        return None


def _time(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def parse_session(raw: Any) -> SessionWindow | None:
    """A window's ``session`` mapping; None when the stream is not a session stream."""
    if not isinstance(raw, Mapping):
        return None
    rows = raw.get("lost_writes")
    parsed = [_row(r) for r in rows] if isinstance(rows, list) else []
    return SessionWindow(
        writes=_int(raw, "writes"),
        acked=_int(raw, "acked"),
        reads=_int(raw, "reads"),
        read_failed=_int(raw, "read_failed"),
        lost=_int(raw, "lost"),
        lost_first_ack=_time(raw.get("lost_first_ack")),
        lost_last_ack=_time(raw.get("lost_last_ack")),
        lost_writes=tuple(r for r in parsed if r is not None),
    )
