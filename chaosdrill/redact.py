"""Keeping secrets out of journals, logs and reports.

Chaos Toolkit copies the whole experiment into the journal (inline secret values
included), logs activity results at debug level into ``chaostoolkit.log``, and an
activity may return or log a secret it was given. None of that may leave the run.

What counts as secret: every value of the experiment's ``secrets`` block (inline or
resolved from the environment or a vault — the resolved mapping is what chaoslib hands
to controls), and the configuration keys the experiment lists in
``configuration.chaosdrill_secret_keys``. The ledger control arms a :class:`Redactor`
with them when the run starts (``configure_control``), which also makes every log
record of the process redacted at creation, whatever its handler; and it scrubs the
journal when the run ends (``after_experiment_control``), before chaostoolkit writes
it and before any report is built from it.

Values are replaced by ``***`` wherever they occur inside a string. A value shorter than
:data:`MIN_SUBSTRING` characters is only replaced where it is the whole string, since
replacing, say, ``"1"`` inside every string would destroy the journal; do not use such
secrets.
"""

import logging
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MIN_SUBSTRING",
    "REDACTED",
    "SECRET_KEYS_FIELD",
    "Redactor",
    "active",
    "arm",
    "redactor_for",
    "scrub_journal",
]

REDACTED = "***"
MIN_SUBSTRING = 4
SECRET_KEYS_FIELD = "chaosdrill_secret_keys"


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


def _is_reference(value: Any) -> bool:
    """``{type: env, key: NAME}``-style declarations name a secret without holding it."""
    return isinstance(value, Mapping) and "type" in value and ("key" in value or "path" in value)


@dataclass(frozen=True)
class Redactor:
    """Replaces known secret values in strings and in nested JSON-like structures."""

    values: frozenset[str] = field(default_factory=frozenset)
    ordered: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Longest first, so a secret containing another is replaced whole.
        object.__setattr__(
            self, "ordered", tuple(sorted((v for v in self.values if v), key=len, reverse=True))
        )

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, s: str) -> str:
        for value in self.ordered:
            if s == value:
                return REDACTED
            if len(value) >= MIN_SUBSTRING and value in s:
                s = s.replace(value, REDACTED)
        return s

    def scrub(self, obj: Any) -> Any:
        """A scrubbed copy of ``obj`` (dicts, lists and strings are rebuilt; the rest kept)."""
        if not self.values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {self.scrub(k) if isinstance(k, str) else k: self.scrub(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.scrub(v) for v in obj]
        if isinstance(obj, int | float) and not isinstance(obj, bool) and str(obj) in self.values:
            return REDACTED
        return obj


def redactor_for(
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    experiment: Mapping[str, Any] | None = None,
) -> Redactor:
    """Every secret value the run knows about: resolved secrets, inline ones, marked configuration keys."""
    found: set[str] = set()
    found.update(_leaves(secrets or {}))
    declared = (experiment or {}).get("secrets") or {}
    if isinstance(declared, Mapping):
        for scope in declared.values():
            if isinstance(scope, Mapping):
                for value in scope.values():
                    if not _is_reference(value):
                        found.update(_leaves(value))
    config = configuration or {}
    raw_keys = (
        config.get(SECRET_KEYS_FIELD)
        or (experiment or {}).get("configuration", {}).get(SECRET_KEYS_FIELD)
        or []
    )
    keys = [raw_keys] if isinstance(raw_keys, str) else [k for k in raw_keys if isinstance(k, str)]
    for key in keys:
        if key in config:
            found.update(_leaves(config[key]))
        raw = (experiment or {}).get("configuration", {}).get(key)
        if raw is not None and not _is_reference(raw):
            found.update(_leaves(raw))
    return Redactor(frozenset(v for v in found if v))


def scrub_journal(journal: dict[str, Any], redactor: Redactor | None = None) -> None:
    """Scrub a journal in place: every secret value anywhere, and every inline value of
    ``experiment.secrets`` (even one too short to be replaced inside other strings)."""
    r = redactor if redactor is not None else _active
    if not r:
        return
    for key in list(journal):
        journal[key] = r.scrub(journal[key])
    experiment = journal.get("experiment")
    if isinstance(experiment, dict) and isinstance(experiment.get("secrets"), Mapping):
        experiment["secrets"] = {
            scope: (
                {k: (v if _is_reference(v) else REDACTED) for k, v in values.items()}
                if isinstance(values, Mapping)
                else REDACTED
            )
            for scope, values in experiment["secrets"].items()
        }


_active = Redactor()
_installed = False


def active() -> Redactor:
    """The redactor armed for this run (empty before :func:`arm`)."""
    return _active


def _install_record_factory() -> None:
    """Redact every log record at creation, so no handler (file, console, last resort) sees a secret."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _active:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: leave it to logging's own error path
                return record
            record.msg, record.args = _active.text(message), ()
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = _active.text(
                    "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
                )
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def arm(
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    experiment: Mapping[str, Any] | None = None,
) -> Redactor:
    """Learn this run's secrets and redact every log record from now on."""
    global _active
    _active = redactor_for(configuration, secrets, experiment)
    if _active:
        _install_record_factory()
    return _active
