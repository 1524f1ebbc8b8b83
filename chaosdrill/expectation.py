"""What an experiment promises about its own outcome, and what a journal says happened.

Every experiment carries its expected outcome in ``extensions: [{name: chaosdrill, expect:
{status: ...}}]``, so the file alone says whether a run is a pass: a drill, the experiment
tests and a report all apply the same rule, here, instead of three slightly different ones.

``outcome_of`` refines Chaos Toolkit's status in one place. chaoslib marks a run whose
steady state was *not met before the method* as ``completed`` (and ``chaos run`` exits 0),
although nothing was injected and the hypothesis never held; a drill must not count that as a
clean run, so it is reported as ``failed``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chaosdrill.errors import BadInput

__all__ = ["EXTENSION_NAME", "Expectation", "Status", "expectation_of", "outcome_of"]

EXTENSION_NAME = "chaosdrill"


class Status(Enum):
    """How a run ended; ``deviated`` means ``journal["deviated"]`` is true."""

    COMPLETED = "completed"
    DEVIATED = "deviated"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Expectation:
    status: Status


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
    choices = ", ".join(s.value for s in Status)
    if not isinstance(raw, str):
        got = "nothing" if raw is None else type(raw).__name__
        raise BadInput(source, field, f"expected a string (one of {choices}), got {got}")
    try:
        return Expectation(Status(raw))
    except ValueError as e:
        raise BadInput(source, field, f"{raw!r} is not one of {choices}") from e


def outcome_of(journal: Mapping[str, Any]) -> Status:
    """The outcome a journal records, comparable with :class:`Expectation`."""
    if journal.get("deviated") is True:
        return Status.DEVIATED
    raw = journal.get("status")
    try:
        status = Status(raw)
    except ValueError:
        return Status.FAILED  # None or an unknown value: the run did not finish properly
    before = (journal.get("steady_states") or {}).get("before")
    if status is Status.COMPLETED and isinstance(before, Mapping) and before.get("steady_state_met") is False:
        return Status.FAILED
    return status
