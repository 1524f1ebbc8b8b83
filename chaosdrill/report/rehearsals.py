"""A drill's rehearsal records (``rehearse --auto``'s ``rehearsal.json``), as the reports show them."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RehearsalRow", "rehearsal_row"]


@dataclass(frozen=True)
class RehearsalRow:
    """One rehearsal: its runbook, how it ended, time to detect and to mitigate, and its steps."""

    runbook: str
    status: str
    ttd_s: float | None
    ttm_s: float | None
    steps: str  # "3 of 4 passed"


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def rehearsal_row(record: Mapping[str, Any]) -> RehearsalRow:
    """The row of one record; missing or malformed values show as unknown, never as zero."""
    steps = record.get("steps")
    steps = steps if isinstance(steps, list) else []
    passed = sum(1 for s in steps if isinstance(s, Mapping) and s.get("outcome") in ("passed", "done"))
    return RehearsalRow(
        runbook=str(record.get("runbook", "?")),
        status=str(record.get("status", "unknown")),
        ttd_s=_seconds(record.get("ttd_s")),
        ttm_s=_seconds(record.get("ttm_s")),
        steps=f"{passed} of {len(steps)} passed",
    )
