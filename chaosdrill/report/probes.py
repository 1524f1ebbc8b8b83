"""Every probe a run made, with its verdict, and the evidence the mechanism probes returned.

A journal records each probe run as an entry (``activity``, ``status``, ``output``,
``exception``) in four places: the hypothesis before the method, during it (continuous
mode), after it, and probes inside the method or the rollbacks. The reports need all of
them, each with a verdict (``passed``, ``failed``, ``skipped``), not only the failures.

Mechanism probes (breaker, fallback, rate limit, autoscaling, failover, budget, detection)
return dicts with timings. They are rendered generically, so a new probe needs no report
change: an output dict is *evidence* when it names its ``mechanism``, when it comes from a
mechanism probe module (a failed probe has no output, only its message), or when it carries
a known evidence key. Its numbers become measures whose unit is read from the key's suffix
(``_s``, ``_ms``, ``_min``); ``*_at`` numbers are moments (epoch seconds); a ``replicas``
list of ``[t, n]`` pairs is a timeline the HTML draws as a chart.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FROM_INJECTION",
    "FROM_REVERT",
    "MECHANISM_MODULES",
    "Evidence",
    "Measure",
    "ProbeRun",
    "evidence_of",
    "probe_runs",
    "unit_of",
]

# Probe modules whose every probe judges a defence mechanism (module name = mechanism).
MECHANISM_MODULES = frozenset({"breaker", "fallback", "ratelimit", "autoscaling", "failover"})
# Output keys that make any probe's output evidence, even without a ``mechanism`` key.
_EVIDENCE_KEYS = frozenset(
    {
        "opened_after_s",
        "closed_after_s",
        "rto_s",
        "rpo_writes",
        "rpo_s",
        "replicas",
        "budget_consumed_min",
        "ttd_s",
        "ttm_s",
    }
)
_UNITS = (("_ms", "ms"), ("_min", "min"), ("_s", "s"))
# Keys that are shown otherwise (verdict, headline) or are not evidence at all.
_NOT_MEASURES = frozenset({"ok", "mechanism", "skipped", "judged_by"})
_EPOCH_FLOOR = 1e9  # a "t" above this is epoch seconds (2001 on), not seconds since something


@dataclass(frozen=True)
class ProbeRun:
    """One probe as it ran: where (phase), its verdict, and what it said."""

    phase: str  # before | during | after | method | rollback
    name: str
    provider: str
    verdict: str  # passed | failed | skipped
    message: str  # the failure, the skip reason, or a short form of the output
    duration_s: float | None
    output: Any = None
    arguments: Any = None  # the provider's arguments (a mapping), as the experiment gave them

    @property
    def module(self) -> str:
        return self.provider.rsplit(".", 1)[0] if "." in self.provider else self.provider


@dataclass(frozen=True)
class Measure:
    """A number of a mechanism's evidence, with the unit its key's suffix names."""

    key: str
    value: float
    unit: str  # "s", "ms", "min" or "" (a count)

    @property
    def label(self) -> str:
        base = self.key
        for suffix, _unit in _UNITS:
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
        return base.replace("_", " ")

    @property
    def text(self) -> str:
        number = f"{self.value:g}" if float(self.value).is_integer() else f"{self.value:.2f}"
        return f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class Evidence:
    """What one mechanism probe showed: verdict, subject, numbers, moments, replicas over time."""

    phase: str
    probe: str
    mechanism: str
    verdict: str
    message: str
    subject: str = ""
    judged_by: str = ""
    measures: tuple[Measure, ...] = ()
    moments: tuple[tuple[str, float], ...] = ()  # (key, epoch seconds)
    replicas: tuple[tuple[float, float], ...] = ()  # (t, ready replicas)
    fault_kind: str | None = None  # the probe's ``fault_kind`` argument: which fault it timed


# Delays the mechanism probes time from the fault's injection, or from its revert: with the
# ledger's timestamps they become moments on the timeline ("breaker opened at").
FROM_INJECTION = {"opened_after_s": "opened_at", "fallback_after_s": "fallback_at", "rto_s": "failed_over_at"}
FROM_REVERT = {"closed_after_s": "closed_at"}


_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+\.)?ActivityFailed: ")


def _last_line(exc: Any) -> str:
    """The last line of a traceback, without chaoslib's (often doubled) exception name."""
    if isinstance(exc, list):
        lines = [str(x).strip() for x in exc if str(x).strip()]
        line = lines[-1] if lines else ""
    else:
        line = str(exc).strip() if exc else ""
    while _EXCEPTION_PREFIX.match(line):
        line = _EXCEPTION_PREFIX.sub("", line, count=1)
    return line


def _failure_message(entry: Mapping[str, Any]) -> str:
    if entry.get("status") != "succeeded":
        return _last_line(entry.get("exception")) or f"status {entry.get('status')}"
    tolerance = (entry.get("activity") or {}).get("tolerance")
    return f"output {json.dumps(entry.get('output'), default=str)[:300]} not within tolerance {tolerance!r}"


def _provider(activity: Mapping[str, Any]) -> str:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    return f"{provider.get('type')}:{provider.get('path') or provider.get('url') or ''}"


def _short(output: Any) -> str:
    if output is None:
        return ""
    return json.dumps(output, sort_keys=True, default=str)[:200]


def _probe_run(entry: Mapping[str, Any], phase: str) -> ProbeRun:
    activity = entry.get("activity") or {}
    output = entry.get("output")
    failed = entry.get("status") != "succeeded" or entry.get("tolerance_met") is False
    skipped = isinstance(output, Mapping) and output.get("skipped")
    if failed:
        verdict, message = "failed", _failure_message(entry)
    elif skipped:
        verdict, message = "skipped", str(skipped)
    else:
        verdict, message = "passed", _short(output)
    duration = entry.get("duration")
    return ProbeRun(
        phase=phase,
        name=str(activity.get("name", "?")),
        provider=_provider(activity),
        verdict=verdict,
        message=message,
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        output=output,
        arguments=(activity.get("provider") or {}).get("arguments"),
    )


def probe_runs(journal: Mapping[str, Any]) -> list[ProbeRun]:
    """Every probe the journal records, in the order the run made them."""
    states = journal.get("steady_states") or {}
    found: list[tuple[Mapping[str, Any], str]] = []
    found += [(e, "before") for e in (states.get("before") or {}).get("probes") or []]
    for state in states.get("during") or []:
        found += [(e, "during") for e in (state or {}).get("probes") or []]
    found += [(e, "method") for e in journal.get("run") or []]
    found += [(e, "after") for e in (states.get("after") or {}).get("probes") or []]
    found += [(e, "rollback") for e in journal.get("rollbacks") or []]
    return [
        _probe_run(entry, phase)
        for entry, phase in found
        if isinstance(entry, Mapping) and (entry.get("activity") or {}).get("type") == "probe"
    ]


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def unit_of(key: str) -> str:
    """The unit a key's suffix names: ``_s``, ``_ms``, ``_min``; none for a count."""
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            return unit
    return ""


def _replicas(raw: Any) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    points: list[tuple[float, float]] = []
    for point in raw:
        if isinstance(point, Sequence) and not isinstance(point, str) and len(point) == 2:
            t, n = _number(point[0]), _number(point[1])
            if t is not None and n is not None:
                points.append((t, n))
    return tuple(sorted(points))


def _mechanism_of(run: ProbeRun) -> str | None:
    output = run.output if isinstance(run.output, Mapping) else {}
    named = output.get("mechanism")
    if isinstance(named, str) and named:
        return named
    module = run.module
    tail = module.rsplit(".", 1)[-1]
    if module.startswith("probes.") and tail in MECHANISM_MODULES:
        return tail
    if _EVIDENCE_KEYS & set(output):
        return tail
    return None


def evidence_of(run: ProbeRun) -> Evidence | None:
    """The mechanism evidence of one probe run, or None when it judged no mechanism."""
    mechanism = _mechanism_of(run)
    if mechanism is None:
        return None
    output: Mapping[str, Any] = run.output if isinstance(run.output, Mapping) else {}
    measures: list[Measure] = []
    moments: list[tuple[str, float]] = []
    subject: list[str] = []
    for key, raw in output.items():
        if key in _NOT_MEASURES:
            continue
        value = _number(raw)
        if value is not None:
            if key.endswith("_at"):
                moments.append((key, value))
            else:
                measures.append(Measure(key, value, unit_of(key)))
        elif isinstance(raw, str) and raw:
            subject.append(f"{key} {raw}")
    judged_by = output.get("judged_by")
    arguments = run.arguments if isinstance(run.arguments, Mapping) else {}
    kind = arguments.get("fault_kind")
    return Evidence(
        phase=run.phase,
        probe=run.name,
        mechanism=mechanism,
        verdict=run.verdict,
        message=run.message if run.verdict != "passed" else "",
        subject=", ".join(subject),
        judged_by=judged_by if isinstance(judged_by, str) else "",
        measures=tuple(measures),
        moments=tuple(moments),
        replicas=_replicas(output.get("replicas")),
        fault_kind=kind if isinstance(kind, str) and kind else None,
    )
