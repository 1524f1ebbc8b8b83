"""Trends and regressions across drills: each scenario's latest run against its previous one.

A regression is flagged when, from one run of a scenario to the next (same kind):

- it passed and now does not (fail or aborted);
- the RTO, the time to detect or the time to mitigate rose by more than ``margin``
  (a fraction: 0.2 = 20 %) of the previous value;
- the error budget it consumed (minutes) rose by more than ``margin`` and by at least
  ``budget_floor_min`` minutes (so 0.001 -> 0.002 min of noise is not a finding).

A value missing on either side is not compared: "not measured" is not "got worse".
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.table import Table

from chaosdrill.drills.store import Run

__all__ = [
    "DEFAULT_BUDGET_FLOOR_MIN",
    "DEFAULT_MARGIN",
    "Regression",
    "compare",
    "regressions",
    "trend_table",
]

DEFAULT_MARGIN = 0.2
DEFAULT_BUDGET_FLOOR_MIN = 0.01
_TIMES = (("rto_s", "RTO"), ("ttd_s", "time to detect"), ("ttm_s", "time to mitigate"))


@dataclass(frozen=True)
class Regression:
    plan: str
    scenario: str
    kind: str
    what: str  # "pass -> fail", "RTO", "time to detect", "budget consumed"
    previous: str
    current: str
    previous_at: str
    current_at: str

    def __str__(self) -> str:
        return (
            f"{self.scenario} ({self.kind}): {self.what} {self.previous} -> {self.current} "
            f"(previous run {self.previous_at[:10]}, this run {self.current_at[:10]})"
        )


def _by_scenario(runs: Iterable[Run]) -> dict[tuple[str, str], list[Run]]:
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        groups.setdefault((run.scenario, run.kind), []).append(run)
    return groups


def _rose(previous: float | None, current: float | None, margin: float) -> bool:
    if previous is None or current is None:
        return False
    return current > previous * (1.0 + margin) if previous > 0 else current > 0


def compare(
    previous: Run,
    current: Run,
    *,
    margin: float = DEFAULT_MARGIN,
    budget_floor_min: float = DEFAULT_BUDGET_FLOOR_MIN,
) -> list[Regression]:
    """What got worse from ``previous`` to ``current`` (two runs of one scenario)."""

    def flag(what: str, before: str, after: str) -> Regression:
        return Regression(
            current.plan,
            current.scenario,
            current.kind,
            what,
            before,
            after,
            previous.started_at,
            current.started_at,
        )

    found: list[Regression] = []
    if previous.passed and not current.passed:
        found.append(flag("pass -> fail", previous.outcome, current.outcome))
    for key, label in _TIMES:
        before, after = getattr(previous, key), getattr(current, key)
        if _rose(before, after, margin):
            found.append(flag(f"{label} up more than {margin:.0%}", f"{before:.2f}s", f"{after:.2f}s"))
    before_b, after_b = previous.budget_consumed_min, current.budget_consumed_min
    if (
        _rose(before_b, after_b, margin)
        and after_b is not None
        and after_b - (before_b or 0.0) >= budget_floor_min
    ):
        found.append(flag("budget consumed up", f"{before_b:.3f} min", f"{after_b:.3f} min"))
    return found


def regressions(
    runs: Iterable[Run], *, margin: float = DEFAULT_MARGIN, budget_floor_min: float = DEFAULT_BUDGET_FLOOR_MIN
) -> list[Regression]:
    """Each scenario's latest run against the run before it."""
    found: list[Regression] = []
    for series in _by_scenario(runs).values():
        if len(series) >= 2:
            found.extend(compare(series[-2], series[-1], margin=margin, budget_floor_min=budget_floor_min))
    return found


def _series(values: Sequence[float | None], unit: str, digits: int = 2) -> str:
    """The last few values, oldest first: ``1.20s > 1.40s > 2.10s``."""
    shown = [("-" if v is None else f"{v:.{digits}f}{unit}") for v in values]
    return " > ".join(shown) if any(v is not None for v in values) else "-"


def trend_table(runs: Iterable[Run], *, last: int = 4, flagged: Sequence[Regression] = ()) -> Table:
    """One row per scenario: its last ``last`` outcomes and measures, and its regressions."""
    table = Table(title="Drill history: trends per scenario (oldest > newest)")
    for column in (
        "scenario",
        "kind",
        "family",
        "runs",
        "outcomes",
        "guarded",
        "RTO",
        "TTD",
        "TTM",
        "budget (min)",
        "regressions",
    ):
        table.add_column(column)
    by_name: dict[tuple[str, str], list[str]] = {}
    for r in flagged:
        by_name.setdefault((r.scenario, r.kind), []).append(r.what)
    for (scenario, kind), series in sorted(_by_scenario(runs).items()):
        recent = series[-last:]
        marks = " ".join(
            {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "aborted": "[red]aborted[/]"}[r.outcome]
            for r in recent
        )
        guarded = {True: "yes", False: "no", None: "?"}[recent[-1].guarded]
        flags = by_name.get((scenario, kind), [])
        table.add_row(
            scenario,
            kind,
            recent[-1].family or "-",
            str(len(series)),
            marks,
            guarded,
            _series([r.rto_s for r in recent], "s"),
            _series([r.ttd_s for r in recent], "s"),
            _series([r.ttm_s for r in recent], "s"),
            _series([r.budget_consumed_min for r in recent], "", 3),
            f"[red]{'; '.join(flags)}[/]" if flags else "[green]none[/]",
        )
    return table
