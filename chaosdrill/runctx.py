"""The run context: which run is going on, in which phase, and where its files are.

A Chaos Toolkit run is one process, but its parts never call each other: the ledger control
opens the run, the load control starts the load, actions record faults, probes judge, and
the guardrail and the drill runner watch from outside. They agree through four environment
variables, which also reach the load worker and the TTL watchdog, since those are child
processes. This module is the only place that names them; everything else asks it.
"""

import os
import uuid
from enum import StrEnum
from pathlib import Path

from chaosdrill import paths

__all__ = [
    "MEASUREMENTS_ENV",
    "PHASE_ENV",
    "RUN_DIR_ENV",
    "RUN_ID_ENV",
    "Phase",
    "before_method",
    "measurements_path",
    "open_run",
    "phase",
    "run_dir",
    "run_id",
    "set_measurements",
    "set_phase",
]

RUN_ID_ENV = "CHAOSDRILL_RUN_ID"  # set by the ledger control; faults recorded now belong to the run
PHASE_ENV = "CHAOSDRILL_PHASE"  # set by the ledger control: before, method, after
MEASUREMENTS_ENV = "CHAOSDRILL_MEASUREMENTS"  # set by the load control, read by probes and the guardrail
RUN_DIR_ENV = "CHAOSDRILL_RUN_DIR"  # set by a drill beside the journal; else <home>/runs/<run id>


class Phase(StrEnum):
    BEFORE = "before"
    METHOD = "method"
    AFTER = "after"


def open_run() -> str:
    """Start a new run: a fresh id (never one inherited from a parent), phase ``before``.

    A run id that leaked from a parent process would make this run's end-of-run sweep
    revert another run's faults, so the id is always new.
    """
    new_id = uuid.uuid4().hex
    os.environ[RUN_ID_ENV] = new_id
    set_phase(Phase.BEFORE)
    return new_id


def run_id() -> str | None:
    """The run the ledger control opened, or None outside a run."""
    return os.environ.get(RUN_ID_ENV) or None


def set_phase(value: Phase) -> None:
    os.environ[PHASE_ENV] = value.value


def phase() -> Phase | None:
    raw = os.environ.get(PHASE_ENV)
    try:
        return Phase(raw) if raw else None
    except ValueError:
        return None


def before_method() -> bool:
    """True while the steady-state hypothesis runs before the method (or outside a run).

    Mechanism probes ("the breaker opened within T of the fault") have nothing to judge
    then and pass; after the method the same probe fails if no fault was injected.
    """
    return phase() in (None, Phase.BEFORE)


def run_dir() -> Path:
    """Where this run's files go: ``$CHAOSDRILL_RUN_DIR``, else ``<home>/runs/<run id>``."""
    explicit = os.environ.get(RUN_DIR_ENV)
    if explicit:
        return Path(explicit)
    return paths.home() / "runs" / (run_id() or uuid.uuid4().hex)


def measurements_path() -> Path | None:
    """The load measurements of this run, once the load control has started the load."""
    raw = os.environ.get(MEASUREMENTS_ENV)
    return Path(raw) if raw else None


def set_measurements(path: Path) -> None:
    os.environ[MEASUREMENTS_ENV] = str(path)
