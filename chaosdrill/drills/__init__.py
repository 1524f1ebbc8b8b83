"""Drills: a plan of experiments that runs on a schedule, and the history of its results.

A single experiment answers "does this defence hold today?"; a drill answers "does it still
hold this month, and is it getting better or worse?". So a drill is data (a plan file), a
runner that turns it into journals and reports, and an append-only history of verdicts.
"""

__all__: list[str] = []
