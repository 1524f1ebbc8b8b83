"""What an experiment promises about its own outcome, and what a journal says happened.

Every experiment carries its expected outcome in ``extensions: [{name: chaosdrill, expect:
{status: ...}}]``, so the file alone says whether a run is a pass: a drill, the experiment
tests and a report all apply the same rule, here, instead of three slightly different ones.

``outcome_of`` refines Chaos Toolkit's status in one place. chaoslib marks a run whose
steady state was *not met before the method* as ``completed`` (and ``chaos run`` exits 0),
although nothing was injected and the hypothesis never held; a drill must not count that as a
clean run, so it is reported as ``failed``.

A negative control (an experiment that switches a defence off and must deviate) can also
name the probes that must be among the failed ones, ``expect: {status: deviated,
failing_probes: [breaker-opened]}``: a control that deviates only because its SLO probe
failed has not shown that the mechanism probe can fail, so ``outcome_of`` reports it as
``deviated-elsewhere``, which no experiment may declare and which never matches.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chaosdrill.errors import BadInput

__all__ = ["EXTENSION_NAME", "Expectation", "Status", "expectation_of", "failed_probes", "outcome_of"]

EXTENSION_NAME = "chaosdrill"


class Status(Enum):
    """How a run ended; ``deviated`` means ``journal["deviated"]`` is true."""

    COMPLETED = "completed"
    DEVIATED = "deviated"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    # Deviated, but not on every probe the experiment names in ``failing_probes``: the
    # outcome of a negative control that failed on the wrong probe. Never declarable.
    DEVIATED_ELSEWHERE = "deviated-elsewhere"


DECLARABLE = tuple(s for s in Status if s is not Status.DEVIATED_ELSEWHERE)


@dataclass(frozen=True)
class Expectation:
    status: Status
    failing_probes: tuple[str, ...] = ()


def _extension(experiment: Mapping[str, Any], source: str) -> Mapping[str, Any] | None:
    extensions = experiment.get("extensions")
    if extensions is None:
        return None
    if not isinstance(extensions, list):
        raise BadInput(source, "extensions", f"expected a list, got {type(extensions).__name__}")
    for i, ext in enumerate(extensions):
        if not isinstance(ext, Mapping):
            raise BadInput(source, f"extensions[{i}]", f"expected a mapping, got {type(ext).__name__}")
        if ext.get("name") == EXTENSION_NAME:
            return ext
    return None


def expectation_of(
    experiment: Mapping[str, Any], source: str, *, default: Status | None = None
) -> Expectation:
    """The experiment's ``chaosdrill`` extension as a typed expectation.

    Raises :class:`BadInput` naming ``source`` and the field when it is missing (unless a
    ``default`` is given) or ill-typed.
    """
    ext = _extension(experiment, source)
    field = f"extensions[name={EXTENSION_NAME}].expect.status"
    if ext is None:
        if default is not None:
            return Expectation(default)
        raise BadInput(source, field, "missing: every experiment must say which outcome it expects")
    expect = ext.get("expect")
    if not isinstance(expect, Mapping):
        got = "nothing" if expect is None else type(expect).__name__
        raise BadInput(source, f"extensions[name={EXTENSION_NAME}].expect", f"expected a mapping, got {got}")
    raw = expect.get("status")
    choices = ", ".join(s.value for s in DECLARABLE)
    if not isinstance(raw, str):
        got = "nothing" if raw is None else type(raw).__name__
        raise BadInput(source, field, f"expected a string (one of {choices}), got {got}")
    try:
        status = Status(raw)
    except ValueError as e:
        raise BadInput(source, field, f"{raw!r} is not one of {choices}") from e
    if status not in DECLARABLE:
        raise BadInput(source, field, f"{raw!r} is not one of {choices}")
    return Expectation(status, _failing_probes(experiment, expect, status, source))


def _probe_names(experiment: Mapping[str, Any]) -> set[str]:
    """Names of the probes in the hypothesis and the method (what can fail in a run)."""
    hypothesis = experiment.get("steady-state-hypothesis")
    activities: list[Any] = []
    if isinstance(hypothesis, Mapping) and isinstance(hypothesis.get("probes"), list):
        activities += hypothesis["probes"]
    if isinstance(experiment.get("method"), list):
        activities += experiment["method"]
    return {
        a["name"]
        for a in activities
        if isinstance(a, Mapping) and a.get("type") == "probe" and isinstance(a.get("name"), str)
    }


def _failing_probes(
    experiment: Mapping[str, Any], expect: Mapping[str, Any], status: Status, source: str
) -> tuple[str, ...]:
    raw = expect.get("failing_probes")
    if raw is None:
        return ()
    field = f"extensions[name={EXTENSION_NAME}].expect.failing_probes"
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) and n for n in raw):
        raise BadInput(source, field, "expected a non-empty list of probe names")
    if status is not Status.DEVIATED:
        raise BadInput(
            source, field, f"only a 'deviated' expectation names failing probes, not {status.value!r}"
        )
    known = _probe_names(experiment)
    for i, name in enumerate(raw):
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise BadInput(
                source, f"{field}[{i}]", f"{name!r} is not a probe of this experiment (probes: {listed})"
            )
    return tuple(raw)


def _failed(entry: Any) -> str | None:
    """The probe's name when a journal entry records a failed probe."""
    if not isinstance(entry, Mapping):
        return None
    activity = entry.get("activity")
    if not isinstance(activity, Mapping) or activity.get("type") != "probe":
        return None
    if entry.get("status") == "succeeded" and entry.get("tolerance_met") is not False:
        return None
    name = activity.get("name")
    return name if isinstance(name, str) else None


def failed_probes(journal: Mapping[str, Any]) -> list[str]:
    """Probes that failed after the method (hypothesis) or in it, in journal order, once each.

    A probe fails when it raised (status other than ``succeeded``) or its output was out of
    tolerance. Probes run before the method are left out: failing there ends the run as
    ``failed``, not ``deviated``.
    """
    entries: list[Any] = []
    after = (journal.get("steady_states") or {}).get("after")
    if isinstance(after, Mapping) and isinstance(after.get("probes"), list):
        entries += after["probes"]
    if isinstance(journal.get("run"), list):
        entries += journal["run"]
    out: list[str] = []
    for entry in entries:
        name = _failed(entry)
        if name is not None and name not in out:
            out.append(name)
    return out


def _declared_failing(journal: Mapping[str, Any]) -> tuple[str, ...]:
    experiment = journal.get("experiment")
    if not isinstance(experiment, Mapping):
        return ()
    try:
        return expectation_of(experiment, "<journal>", default=Status.COMPLETED).failing_probes
    except BadInput:
        return ()  # a journal is judged, not validated: its experiment was checked before the run


def outcome_of(journal: Mapping[str, Any]) -> Status:
    """The outcome a journal records, comparable with :class:`Expectation`.

    A deviated run whose experiment names ``failing_probes`` is ``deviated-elsewhere`` unless
    every one of them failed.
    """
    if journal.get("deviated") is True:
        must_fail = _declared_failing(journal)
        if must_fail and not set(must_fail) <= set(failed_probes(journal)):
            return Status.DEVIATED_ELSEWHERE
        return Status.DEVIATED
    raw = journal.get("status")
    try:
        status = Status(raw)
    except ValueError:
        return Status.FAILED  # None or an unknown value: the run did not finish properly
    if status is Status.DEVIATED_ELSEWHERE:
        return Status.FAILED  # not a status chaoslib writes
    before = (journal.get("steady_states") or {}).get("before")
    if status is Status.COMPLETED and isinstance(before, Mapping) and before.get("steady_state_met") is False:
        return Status.FAILED
    return status
