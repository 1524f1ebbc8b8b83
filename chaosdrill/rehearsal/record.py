"""The rehearsal record: what happened, when, and how the on-call fared, as JSON and Markdown.

Times are wall clock (Unix seconds), like the ledger's, so a record lines up with the
fault's ledger entry, the load's measurements and Alertmanager's alerts. Durations of the
incident (time to detect, time to mitigate, a step's start) are measured from the fault's
injection, the ledger's own timestamp.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "RECORD_JSON",
    "RECORD_MD",
    "Note",
    "Outcome",
    "RehearsalRecord",
    "Status",
    "StepRecord",
    "write_record",
]

RECORD_JSON = "rehearsal.json"
RECORD_MD = "rehearsal.md"


class Status(Enum):
    PASSED = "passed"  # every check and do passed
    FAILED = "failed"  # a check or a do failed (a finding about the system or the runbook)
    ABORTED = "aborted"  # q, Ctrl-C, SIGTERM, the guardrail or the time bound ended it early
    REFUSED = "refused"  # bad input or a fault that could not be injected: nothing rehearsed


class Outcome(Enum):
    DONE = "done"  # the on-call pressed Enter
    PASSED = "passed"  # its check (and do) passed
    FAILED = "failed"  # its check or do failed
    SKIPPED = "skipped"  # the on-call pressed s, or declined the do
    MANUAL = "manual"  # --auto: nothing to run for a step a person does
    NOT_REACHED = "not-reached"


@dataclass
class StepRecord:
    name: str
    expected_s: float
    outcome: Outcome = Outcome.NOT_REACHED
    started_s: float | None = None  # since the fault
    duration_s: float | None = None
    check: dict[str, Any] | None = None  # {"ok": bool, "result" | "error": ...}
    do: dict[str, Any] | None = None

    @property
    def over_time(self) -> bool:
        return self.duration_s is not None and self.duration_s > self.expected_s


@dataclass
class Note:
    at_s: float  # since the fault
    step: str
    text: str


@dataclass
class RehearsalRecord:
    """One rehearsal; ``ttd_s``/``ttm_s`` are None when detection/mitigation never came."""

    runbook: str
    title: str
    mode: str  # "interactive" or "auto"
    status: Status
    started_at: float
    steps: list[StepRecord] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    ttd_s: float | None = None
    ttm_s: float | None = None
    detected_by: str | None = None  # "alert <name>", "on-call" or "step <name>"
    mitigated_by: str | None = None
    ttd_alert_s: float | None = None  # first runbook trigger Alertmanager held after the fault
    ttd_oncall_s: float | None = None  # the on-call's "detected" (key d, or a step marked so)
    ttm_oncall_s: float | None = None
    fault_at: float | None = None
    ended_at: float | None = None
    experiment: str | None = None
    faults: list[str] = field(default_factory=list)
    rollback: dict[str, Any] = field(default_factory=dict)
    left_active: list[str] = field(default_factory=list)  # must be empty; the ledger's word
    slo: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def exit_code(self) -> int:
        """0 passed; 1 a check failed or the rehearsal was cut short; 2 refused."""
        return {Status.PASSED: 0, Status.REFUSED: 2}.get(self.status, 1)

    def since_fault(self, at: float) -> float:
        return round(at - (self.fault_at if self.fault_at is not None else self.started_at), 3)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        for step, raw in zip(self.steps, out["steps"], strict=True):
            raw["outcome"] = step.outcome.value
            raw["over_time"] = step.over_time
        return out


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def to_markdown(record: RehearsalRecord) -> str:
    """A human summary: verdict, TTD/TTM, the steps against their time boxes, the notes."""
    lines = [
        f"# Rehearsal: {record.title}",
        "",
        f"- runbook: `{record.runbook}` ({record.mode})",
        f"- status: **{record.status.value}**{f' ({record.reason})' if record.reason else ''}",
        f"- started: {_when(record.started_at)}; fault injected: {_when(record.fault_at)}",
        f"- time to detect: {_secs(record.ttd_s)} ({record.detected_by or 'not detected'})",
        f"- time to mitigate: {_secs(record.ttm_s)} ({record.mitigated_by or 'not mitigated'})",
        f"- faults: {', '.join(record.faults) or '-'}; left active after rollback: "
        f"{', '.join(record.left_active) or 'none'}",
        "",
        "| step | outcome | started | took | time box |",
        "|---|---|---|---|---|",
    ]
    for s in record.steps:
        late = " (over)" if s.over_time else ""
        lines.append(
            f"| {s.name} | {s.outcome.value} | {_secs(s.started_s)} | {_secs(s.duration_s)}{late} "
            f"| {s.expected_s:.0f} s |"
        )
    failures = [
        (s.name, part) for s in record.steps for part in (s.check, s.do) if part and not part.get("ok")
    ]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {name}: {part.get('error') or part.get('result')}" for name, part in failures]
    if record.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- +{n.at_s:.1f} s ({n.step}): {n.text}" for n in record.notes]
    return "\n".join(lines) + "\n"


def write_record(record: RehearsalRecord, out_dir: Path) -> Path:
    """Write ``rehearsal.json`` and ``rehearsal.md`` into ``out_dir``; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORD_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    (out_dir / RECORD_MD).write_text(to_markdown(record), encoding="utf-8")
    return path
