"""From one experiment run to one history row: outcome, guarded, RTO, RPO, TTD, TTM, budget.

The measures come from what the run itself recorded, never from the experiment file:

- RTO: a probe output's ``rto_s``, else ``failover_s`` (``probes.failover``);
- RPO: a probe output's ``rpo_s`` (no shipped probe measures one yet: ``None``);
- time to detect / mitigate: the smallest ``time_to_detect_s`` / ``time_to_mitigate_s``
  of the run's probe outputs (``probes.alerts`` measures detection);
- budget consumed, in minutes: the error ratio of each measurement window times the
  window's length, summed. A minute at 100 % errors costs one minute of the budget, so
  the figure reads directly against a 30-day budget ((1 - SLO) x 43 200 min);
- guarded: the journal's ``chaosdrill.guardrail.armed`` (what happened, not what was asked);
- outcome: ``pass`` when the run ended as its file expects; ``aborted`` when it did not
  finish (interrupted, aborted, stopped by the guardrail, or no journal); else ``fail``.
"""

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from chaosdrill.drills.store import Outcome, Run
from chaosdrill.expectation import Status
from chaosdrill.report.model import ExperimentResult

__all__ = ["budget_minutes", "guarded_in", "outcome_of_result", "probe_outputs", "run_of"]


def probe_outputs(journal: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every mapping a successful activity returned, hypothesis (before/after/during) and method."""
    states = journal.get("steady_states") or {}
    entries: list[Any] = []
    for phase in ("before", "after"):
        entries.extend((states.get(phase) or {}).get("probes") or [])
    for state in states.get("during") or []:
        entries.extend((state or {}).get("probes") or [])
    entries.extend(journal.get("run") or [])
    for entry in entries:
        output = entry.get("output") if isinstance(entry, Mapping) else None
        if isinstance(output, Mapping) and entry.get("status") == "succeeded":
            yield output


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first(journal: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        for output in probe_outputs(journal):
            found = _number(output.get(key))
            if found is not None:
                return found
    return None


def _least(journal: Mapping[str, Any], key: str) -> float | None:
    values = [v for o in probe_outputs(journal) if (v := _number(o.get(key))) is not None]
    return min(values) if values else None


def budget_minutes(result: ExperimentResult) -> float | None:
    """Minutes of error budget the run's load consumed (None without measurements)."""
    total = 0.0
    seen = False
    for w in result.windows:
        done = w.ok + w.degraded + w.error
        if done:
            seen = True
            total += (w.error / done) * max(0.0, w.t1 - w.t0) / 60.0
    return round(total, 6) if seen else None


def guarded_in(journal: Mapping[str, Any]) -> bool:
    guardrail = (journal.get("chaosdrill") or {}).get("guardrail") or {}
    return bool(guardrail.get("armed"))


def outcome_of_result(result: ExperimentResult) -> Outcome:
    if result.passed:
        return "pass"
    if result.error is not None or result.actual in (Status.INTERRUPTED, Status.ABORTED):
        return "aborted"
    return "fail"


def _journal(result: ExperimentResult) -> Mapping[str, Any]:
    if result.journal_path is None or not result.journal_path.is_file():
        return {}
    try:
        doc = json.loads(result.journal_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, Mapping) else {}


def run_of(
    plan: str,
    result: ExperimentResult,
    *,
    started: float,
    family: str | None,
    guard: Mapping[str, Any],
) -> Run:
    """The history row of one experiment run of a drill."""
    journal = _journal(result)
    return Run(
        plan=plan,
        scenario=result.name,
        started_at=datetime.fromtimestamp(result.started or started, UTC).isoformat(timespec="seconds"),
        kind="experiment",
        outcome=outcome_of_result(result),
        family=family,
        guarded=guarded_in(journal) if journal else bool(guard.get("guarded")),
        rto_s=_first(journal, "rto_s", "failover_s"),
        rpo_s=_first(journal, "rpo_s"),
        budget_consumed_min=budget_minutes(result),
        ttd_s=_least(journal, "time_to_detect_s"),
        ttm_s=_least(journal, "time_to_mitigate_s"),
        availability=result.availability,
        p99_ms=result.p99_ms,
        duration_s=result.duration_s,
        detail={
            "expected": result.expected.value,
            "actual": result.actual.value if result.actual else None,
            "guard": dict(guard),
            "error": result.error,
        },
    )
