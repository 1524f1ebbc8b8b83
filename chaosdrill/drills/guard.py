"""Guardrails by default: a drill runs every experiment under the guardrail control.

An experiment that forgets the guardrail must not be the one that turns a drill into an
outage, so the drill adds it: right after the load control (the guardrail reads the path
the load control publishes), with the guardrail's own defaults, unless the experiment

- declares the guardrail itself (its arguments are used as written), or
- tunes it in its ``chaosdrill`` extension: ``guardrail: {burn_limit: 40}`` (any of
  ``slo``, ``short_window_s``, ``long_window_s``, ``burn_limit``, ``min_requests``), or
- opts out, with the reason written next to it:
  ``guardrail: {enabled: false, reason: "..."}``. A missing reason is bad input.

An experiment without a load control has nothing for the guardrail to watch; it runs
unguarded and the run record says so. Which runs were guarded, and why not, goes into the
run record (``drill-run.json``) and the history store.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.expectation import EXTENSION_NAME

__all__ = [
    "GUARDRAIL_CONTROL",
    "LOAD_CONTROL",
    "Guard",
    "GuardPolicy",
    "guard_policy_of",
    "guarded",
]

GUARDRAIL_CONTROL = "chaosdrill.controls.guardrail"
LOAD_CONTROL = "chaosdrill.controls.load"
_TUNABLE = {
    "slo": float,
    "short_window_s": float,
    "long_window_s": float,
    "burn_limit": float,
    "min_requests": int,
}
_FIELD = f"extensions[name={EXTENSION_NAME}].guardrail"


@dataclass(frozen=True)
class GuardPolicy:
    """What the experiment's extension says about the guardrail."""

    enabled: bool = True
    reason: str = ""
    arguments: Mapping[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Guard:
    """Whether a run is guarded, and the words the record and the report show."""

    guarded: bool
    how: str  # "added by the drill" | "declared by the experiment" | "opted out" | "no load"
    reason: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "guarded": self.guarded,
            "how": self.how,
            "reason": self.reason,
            "arguments": dict(self.arguments),
        }


def _extension(experiment: Mapping[str, Any]) -> Mapping[str, Any]:
    for ext in experiment.get("extensions") or []:
        if isinstance(ext, Mapping) and ext.get("name") == EXTENSION_NAME:
            return ext
    return {}


def _number(source: str, key: str, raw: Any, kind: type) -> float | int:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadInput(source, f"{_FIELD}.{key}", f"expected a number, got {type(raw).__name__}")
    if raw <= 0:
        raise BadInput(source, f"{_FIELD}.{key}", f"must be > 0, got {raw}")
    if kind is int and not float(raw).is_integer():
        raise BadInput(source, f"{_FIELD}.{key}", f"expected a whole number, got {raw}")
    return kind(raw)  # type: ignore[no-any-return]


def guard_policy_of(experiment: Mapping[str, Any], source: str) -> GuardPolicy:
    """Parse ``extensions[chaosdrill].guardrail``; BadInput naming the file and the field."""
    raw = _extension(experiment).get("guardrail")
    if raw is None:
        return GuardPolicy()
    if not isinstance(raw, Mapping):
        raise BadInput(source, _FIELD, f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"enabled", "reason", *_TUNABLE})
    if unknown:
        allowed = ", ".join(["enabled", "reason", *_TUNABLE])
        raise BadInput(source, f"{_FIELD}.{unknown[0]}", f"unknown key; expected one of {allowed}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadInput(source, f"{_FIELD}.enabled", f"expected true or false, got {enabled!r}")
    reason = raw.get("reason", "")
    if not isinstance(reason, str):
        raise BadInput(source, f"{_FIELD}.reason", f"expected a string, got {type(reason).__name__}")
    if not enabled and not reason.strip():
        raise BadInput(
            source, f"{_FIELD}.reason", "missing: an experiment that opts out of the guardrail must say why"
        )
    declared = [c for c in experiment.get("controls") or [] if _module(c) == GUARDRAIL_CONTROL]
    if declared and not enabled:
        raise BadInput(
            source, f"{_FIELD}.enabled", "false, but the experiment declares the guardrail control"
        )
    arguments = {k: _number(source, k, raw[k], kind) for k, kind in _TUNABLE.items() if k in raw}
    if not enabled and arguments:
        raise BadInput(source, _FIELD, "tunes a guardrail it disables; drop the tuning or enable it")
    slo = arguments.get("slo")
    if slo is not None and not 0 < slo < 1:
        raise BadInput(source, f"{_FIELD}.slo", f"must be strictly between 0 and 1, got {slo}")
    return GuardPolicy(enabled=enabled, reason=reason.strip(), arguments=arguments)


def _module(control: Any) -> Any:
    return ((control or {}).get("provider") or {}).get("module") if isinstance(control, Mapping) else None


def guarded(experiment: Mapping[str, Any], policy: GuardPolicy) -> tuple[dict[str, Any], Guard]:
    """The experiment as the drill runs it, and whether that run is guarded.

    The input is never modified; the guardrail is inserted after the last load control.
    """
    doc = copy.deepcopy(dict(experiment))
    controls: list[Any] = list(doc.get("controls") or [])
    modules = [_module(c) for c in controls]
    if GUARDRAIL_CONTROL in modules:
        declared = controls[modules.index(GUARDRAIL_CONTROL)]
        args = dict((declared.get("provider") or {}).get("arguments") or {})
        return doc, Guard(True, "declared by the experiment", policy.reason, args)
    if not policy.enabled:
        return doc, Guard(False, "opted out", policy.reason)
    if LOAD_CONTROL not in modules:
        return doc, Guard(False, "no load", "no load control: the guardrail has no measurements to watch")
    after = len(modules) - modules[::-1].index(LOAD_CONTROL)
    provider: dict[str, Any] = {"type": "python", "module": GUARDRAIL_CONTROL}
    if policy.arguments:
        provider["arguments"] = dict(policy.arguments)
    controls.insert(after, {"name": "chaosdrill-guardrail", "provider": provider})
    doc["controls"] = controls
    how = "added by the drill" + (" (tuned by the experiment)" if policy.arguments else "")
    return doc, Guard(True, how, policy.reason, dict(policy.arguments))
