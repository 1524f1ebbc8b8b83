"""Rotation: which scenario families a drill plan runs in a given month.

Running every experiment every month makes a drill long and noisy; running a random subset
lets a family go unexercised for half a year. A rotation is a fixed, reviewable schedule:
the year is cut into quarters, and family number ``j`` (in the order the plan declares
them) runs in month ``j % 3`` of every quarter. So each family runs at least once a
quarter, the families spread evenly over the three months, and the slot of a month is a
pure function of the month (``drill run --month 2026-05`` is reproducible). With fewer
than three families they simply repeat (one family runs every month; two alternate).

Once a year, in ``full_drill_month``, the drill runs everything.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

__all__ = ["MONTHS_PER_QUARTER", "Rotation", "parse_month"]

MONTHS_PER_QUARTER = 3


@dataclass(frozen=True)
class Rotation:
    families: tuple[str, ...]
    full_drill_month: int = 1

    def is_full(self, month: date) -> bool:
        """The once-a-year drill that runs every family."""
        return month.month == self.full_drill_month

    def families_for(self, month: date) -> tuple[str, ...]:
        """The families the drill runs in ``month`` (every family in the full-drill month)."""
        if self.is_full(month):
            return self.families
        slot = (month.month - 1) % MONTHS_PER_QUARTER
        count = len(self.families)
        if count < MONTHS_PER_QUARTER:
            return (self.families[slot % count],)
        return tuple(f for j, f in enumerate(self.families) if j % MONTHS_PER_QUARTER == slot)

    def schedule(self, months: Sequence[date]) -> dict[date, tuple[str, ...]]:
        """The families of each month, e.g. for ``drill run --month`` dry runs and docs."""
        return {m: self.families_for(m) for m in months}


def parse_month(raw: str) -> date:
    """``YYYY-MM`` as the first day of that month; ValueError otherwise."""
    parts = raw.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise ValueError(f"{raw!r} is not a month in the form YYYY-MM (e.g. 2026-05)")
    year, month = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12:
        raise ValueError(f"{raw!r}: the month must be 01 to 12")
    return date(year, month, 1)
