"""One experiment run, as the reports see it: verdict, timings, failed probes, faults, windows.

Journals are loose JSON and measurements are per-stream histograms; every renderer (HTML,
Markdown, JUnit, history) needs the same few derived facts. Deriving them once, into frozen
dataclasses, keeps the renderers dumb and makes them agree with each other.

Availability here is the SLO probes' ratio, ``chaosdrill.slo.availability``:
``(ok + degraded) / (ok + degraded + errors)``. A degraded answer is still an answer (the
fallback working as designed); a 429 is neither good nor bad, because a rate limit is the
service keeping its promise to everyone else.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosdrill import slo
from chaosdrill.errors import BadInput
from chaosdrill.expectation import Status, expectation_of, outcome_of
from chaosdrill.load import measurements
from chaosdrill.report.probes import (
    FROM_INJECTION,
    FROM_REVERT,
    Evidence,
    Measure,
    ProbeRun,
    evidence_of,
    probe_runs,
    unit_of,
)

GUARDRAIL_CONTROL = "chaosdrill.controls.guardrail"

__all__ = [
    "Detection",
    "Evidence",
    "ExperimentResult",
    "FailedProbe",
    "FaultRecord",
    "LedgerFault",
    "ProbeRun",
    "Window",
    "availability_of",
    "load_result",
    "read_windows",
]


@dataclass(frozen=True)
class Window:
    """Outcomes and latency percentiles of every stream together, over ``[t0, t1)`` (epoch s)."""

    t0: float
    t1: float
    ok: int
    degraded: int
    rejected: int
    error: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class FaultRecord:
    """An action the method (or a rollback) ran: what it did, when, and whether it worked."""

    name: str
    provider: str
    arguments: str
    status: str
    start: float | None
    end: float | None
    phase: str = "method"
    message: str = ""


@dataclass(frozen=True)
class LedgerFault:
    """A fault as the ledger control recorded it: when it went live and when it was reverted."""

    description: str
    injected_at: float | None = None
    reverted_at: float | None = None
    how: str = ""
    kind: str = ""

    @property
    def live_s(self) -> float | None:
        if self.injected_at is None or self.reverted_at is None:
            return None
        return self.reverted_at - self.injected_at


@dataclass(frozen=True)
class Detection:
    """How fast monitoring caught the fault: an alert probe's time to detect, or to notify."""

    probe: str
    alert: str
    measure: str  # "time to detect" | "time to notify" | "time to resolve"
    seconds: float
    within_s: float | None = None


_MEASURES = (
    ("time_to_detect_s", "time to detect"),
    ("time_to_notify_s", "time to notify"),
    ("time_to_resolve_s", "time to resolve"),
)


def _detections(journal: Mapping[str, Any]) -> list[Detection]:
    """Every alert probe result of the run (``probes.alerts``) that measured a time."""
    states = journal.get("steady_states") or {}
    entries = [*((states.get("after") or {}).get("probes") or []), *(journal.get("run") or [])]
    out: list[Detection] = []
    for entry in entries:
        output = entry.get("output")
        if not isinstance(output, Mapping) or entry.get("status") != "succeeded":
            continue
        name = str((entry.get("activity") or {}).get("name", "?"))
        for key, measure in _MEASURES:
            value = output.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                within = output.get("within_s")
                out.append(
                    Detection(
                        name,
                        str(output.get("alert", "?")),
                        measure,
                        float(value),
                        float(within) if isinstance(within, int | float) else None,
                    )
                )
    return out


@dataclass(frozen=True)
class FailedProbe:
    phase: str
    name: str
    message: str


@dataclass(frozen=True)
class ExperimentResult:
    name: str
    title: str
    expected: Status
    actual: Status | None
    journal_path: Path | None = None
    started: float | None = None
    duration_s: float | None = None
    failed_probes: tuple[FailedProbe, ...] = ()
    faults: tuple[FaultRecord, ...] = ()
    rollbacks: tuple[FaultRecord, ...] = ()
    ledger_faults: tuple[LedgerFault, ...] = ()
    detections: tuple[Detection, ...] = ()
    windows: tuple[Window, ...] = ()
    availability: float | None = None
    p99_ms: float | None = None
    error: str | None = None
    notes: tuple[str, ...] = field(default=())
    must_fail: tuple[str, ...] = ()  # a negative control's ``expect.failing_probes``
    probes: tuple[ProbeRun, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    guarded: bool | None = None  # None: unknown (no journal)
    guard_note: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and self.actual is self.expected

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        return "as expected" if self.passed else "unexpected"


def _epoch(raw: Any) -> float | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # chaoslib writes UTC, older versions without offset
    return moment.timestamp()


def _last_line(exc: Any) -> str:
    if isinstance(exc, list):
        lines = [str(x).strip() for x in exc if str(x).strip()]
        return lines[-1] if lines else ""
    return str(exc).strip() if exc else ""


def _failed_probes(runs: Sequence[ProbeRun]) -> list[FailedProbe]:
    return [FailedProbe(r.phase, r.name, r.message) for r in runs if r.verdict == "failed"]


def _anchored(evidence: Evidence, faults: Sequence[LedgerFault]) -> Evidence:
    """Add the moments a delay implies: the probe timed it from the latest fault (of its
    ``fault_kind``) being injected or reverted, as the ledger recorded those."""
    matching = [f for f in faults if f.injected_at is not None]
    if evidence.fault_kind is not None:
        matching = [f for f in matching if f.kind == evidence.fault_kind]
    if not matching:
        return evidence
    anchor = max(matching, key=lambda f: f.injected_at or 0.0)
    have = {key for key, _ in evidence.moments}
    moments = list(evidence.moments)
    for m in evidence.measures:
        if m.key in FROM_INJECTION and FROM_INJECTION[m.key] not in have and anchor.injected_at is not None:
            moments.append((FROM_INJECTION[m.key], anchor.injected_at + m.value))
        if m.key in FROM_REVERT and FROM_REVERT[m.key] not in have and anchor.reverted_at is not None:
            moments.append((FROM_REVERT[m.key], anchor.reverted_at + m.value))
    return replace(evidence, moments=tuple(moments))


def _evidence(runs: Sequence[ProbeRun], faults: Sequence[LedgerFault]) -> list[Evidence]:
    """Mechanism evidence, leaving out the probes that skipped before the method (no fault yet)."""
    found = [evidence_of(r) for r in runs if not (r.phase == "before" and r.verdict == "skipped")]
    return [_anchored(e, faults) for e in found if e is not None]


def _guardrail_evidence(extra: Mapping[str, Any]) -> list[Evidence]:
    """The armed guardrail as a mechanism of its own: whether it tripped, its burn rates,
    and its moments (errors began, breach seen, faults removed) for the timeline."""
    section = extra.get("guardrail")
    if not isinstance(section, Mapping) or section.get("armed") is not True:
        return []
    measures: list[Measure] = []
    moments: list[tuple[str, float]] = []
    for key, raw in section.items():
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            continue
        if key.endswith("_at"):
            moments.append((key, float(raw)))
        else:
            measures.append(Measure(key, float(raw), unit_of(key)))
    return [
        Evidence(
            phase="control",
            probe="chaosdrill-guardrail",
            mechanism="guardrail",
            verdict="tripped" if section.get("breached") else "armed",
            message=str(section.get("error") or ""),
            measures=tuple(measures),
            moments=tuple(moments),
        )
    ]


def _guard(journal: Mapping[str, Any], extra: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether the run was guarded, and why (not): the guardrail's own journal section first,
    then the controls of the experiment as it ran, then the experiment's opt-out."""
    section = extra.get("guardrail")
    if isinstance(section, Mapping) and isinstance(section.get("armed"), bool):
        if not section["armed"]:
            return False, str(section.get("reason") or "the guardrail was declared but not armed")
        return True, "the guardrail tripped and stopped the run" if section.get("breached") else "armed"
    experiment = journal.get("experiment") or {}
    controls = experiment.get("controls") or []
    modules = {((c or {}).get("provider") or {}).get("module") for c in controls if isinstance(c, Mapping)}
    if GUARDRAIL_CONTROL in modules:
        return True, "the experiment declares the guardrail control"
    for ext in experiment.get("extensions") or []:
        if isinstance(ext, Mapping) and ext.get("name") == "chaosdrill":
            policy = ext.get("guardrail")
            if policy is False or (isinstance(policy, Mapping) and policy.get("enabled") is False):
                reason = policy.get("reason") if isinstance(policy, Mapping) else None
                return False, f"opted out: {reason}" if reason else "opted out"
    return False, "no guardrail control in the run"


def _provider(activity: Mapping[str, Any]) -> tuple[str, str]:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        where = f"{provider.get('module')}.{provider.get('func')}"
    else:
        where = f"{provider.get('type')}:{provider.get('path') or provider.get('url') or ''}"
    args = provider.get("arguments")
    return where, json.dumps(args, sort_keys=True, default=str) if args else ""


def _actions(entries: Sequence[Mapping[str, Any]] | None, phase: str) -> list[FaultRecord]:
    out: list[FaultRecord] = []
    for entry in entries or []:
        activity = entry.get("activity") or {}
        if activity.get("type") != "action":
            continue
        where, args = _provider(activity)
        out.append(
            FaultRecord(
                name=str(activity.get("name", "?")),
                provider=where,
                arguments=args,
                status=str(entry.get("status")),
                start=_epoch(entry.get("start")),
                end=_epoch(entry.get("end")),
                phase=phase,
                message=_last_line(entry.get("exception")),
            )
        )
    return out


def _seconds(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) else None


def _ledger_faults(extra: Mapping[str, Any]) -> list[LedgerFault]:
    out: list[LedgerFault] = []
    for fault in extra.get("faults") or []:
        if isinstance(fault, Mapping):
            out.append(
                LedgerFault(
                    description=str(fault.get("description") or fault.get("kind") or fault),
                    injected_at=_seconds(fault.get("injected_at")),
                    reverted_at=_seconds(fault.get("reverted_at")),
                    how=str(fault.get("how") or ""),
                    kind=str(fault.get("kind") or ""),
                )
            )
        else:
            out.append(LedgerFault(str(fault)))
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def read_windows(path: Path) -> tuple[list[Window], float | None]:
    """Windows of a measurements.jsonl (all streams summed), and the p99 (ms) of the whole run.

    Reading and merging is :mod:`chaosdrill.load.measurements`' job, the same code the
    probes and the guardrail use, so the report shows exactly what they judged.
    """
    recorded = measurements.read_windows(path)
    windows = [
        Window(
            t0=p.t0,
            t1=p.t1,
            ok=p.ok,
            degraded=p.degraded,
            rejected=p.rejected,
            error=p.error,
            p50_ms=_ms(p.p50_s),
            p95_ms=_ms(p.p95_s),
            p99_ms=_ms(p.p99_s),
        )
        for p in measurements.timeline(recorded)
    ]
    return windows, _ms(measurements.aggregate(recorded).percentile(99))


def availability_of(windows: Sequence[Window]) -> float | None:
    """``(ok + degraded) / (ok + degraded + errors)``: the ratio the SLO probes judge."""
    return slo.availability(sum(w.ok + w.degraded for w in windows), sum(w.error for w in windows))


def _measurements_path(journal_path: Path, extra: Mapping[str, Any]) -> Path | None:
    declared = extra.get("measurements")
    if isinstance(declared, str) and declared:
        path = Path(declared)
        return path if path.is_absolute() else journal_path.parent / path
    fallback = journal_path.parent / "measurements.jsonl"
    return fallback if fallback.is_file() else None


def load_result(
    journal_path: Path, *, name: str | None = None, expected: Status | None = None
) -> ExperimentResult:
    """Read a journal (and its measurements, if any) into an :class:`ExperimentResult`.

    ``expected`` overrides the expectation inside the journal's experiment; without either,
    ``completed`` is assumed and a note says so.
    """
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadInput(str(journal_path), "<file>", f"cannot read the journal: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise BadInput(str(journal_path), "<file>", f"not a JSON journal: {e}") from e
    if not isinstance(journal, dict) or not isinstance(journal.get("experiment"), dict):
        raise BadInput(str(journal_path), "experiment", "missing: this is not a Chaos Toolkit journal")
    experiment = journal["experiment"]
    notes: list[str] = []
    if expected is None:
        expectation = expectation_of(experiment, str(journal_path), default=Status.COMPLETED)
        if not any(
            isinstance(e, Mapping) and e.get("name") == "chaosdrill"
            for e in experiment.get("extensions") or []
        ):
            notes.append("the experiment declares no expected outcome; 'completed' assumed")
        expected = expectation.status
    actual = outcome_of(journal)
    try:
        must_fail = expectation_of(experiment, str(journal_path), default=Status.COMPLETED).failing_probes
    except BadInput:
        must_fail = ()  # judged by the caller's expectation; the file was validated before the run
    if actual is Status.FAILED and journal.get("status") == "completed":
        notes.append("the steady state was not met before the method, so nothing was tested")
    raw_extra = journal.get("chaosdrill")
    extra: Mapping[str, Any] = raw_extra if isinstance(raw_extra, Mapping) else {}
    windows: list[Window] = []
    p99: float | None = None
    measurements = _measurements_path(journal_path, extra)
    if measurements is not None:
        if measurements.is_file():
            windows, p99 = read_windows(measurements)
        else:
            notes.append(f"measurements file {measurements} is missing")
    guardrail = extra.get("guardrail")
    if isinstance(guardrail, Mapping) and guardrail.get("armed") is not True and guardrail:
        notes.append("guardrail: " + json.dumps(guardrail, sort_keys=True, default=str))
    duration = journal.get("duration")
    runs = probe_runs(journal)
    ledger = _ledger_faults(extra)
    guarded, guard_note = _guard(journal, extra)
    return ExperimentResult(
        name=name or journal_path.parent.name,
        title=str(experiment.get("title") or journal_path.parent.name),
        expected=expected,
        actual=actual,
        journal_path=journal_path,
        started=_epoch(journal.get("start")),
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        failed_probes=tuple(_failed_probes(runs)),
        probes=tuple(runs),
        evidence=tuple(_evidence(runs, ledger) + _guardrail_evidence(extra)),
        guarded=guarded,
        guard_note=guard_note,
        must_fail=must_fail,
        faults=tuple(_actions(journal.get("run"), "method")),
        rollbacks=tuple(_actions(journal.get("rollbacks"), "rollback")),
        ledger_faults=tuple(ledger),
        detections=tuple(_detections(journal)),
        windows=tuple(windows),
        availability=availability_of(windows),
        p99_ms=p99,
        notes=tuple(notes),
    )
