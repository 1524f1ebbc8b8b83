"""The rehearsal's incident: load and the runbook's fault, under the controls of ``chaos run``.

There is one fault path. The scenario drives the very controls an experiment declares
(:mod:`chaosdrill.controls.ledger`, ``load`` and ``guardrail``) in the order ``chaos run``
calls them, and injects through the experiment's own actions, which call
:func:`chaosdrill.faults.inject`: every fault is fsync'd into the ledger before it is applied,
tagged with this run's id, carries a TTL the watchdog enforces, and is reverted by the
ledger control's sweep when the scenario stops, by the guardrail when the error budget burns
too fast, and by ``chaosdrill recover`` after a crash.

What is not taken from the experiment: its hypothesis, its probes and its pauses, and the
actions that remove the fault. A person holds the incident open, so the fault's TTL and the
load's duration are stretched to the rehearsal's own bound (``max_duration_s``), and the
guardrail is always armed (with the experiment's arguments when it declares it).
"""

import importlib
import inspect
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosdrill import runctx
from chaosdrill.controls import guardrail as guardrail_control
from chaosdrill.controls import ledger as ledger_control
from chaosdrill.controls import load as load_control
from chaosdrill.drivers.target import target_of
from chaosdrill.errors import BadInput
from chaosdrill.ledger import default_ledger
from chaosdrill.rehearsal.lint import experiment_of, fault_activities
from chaosdrill.rehearsal.runbook import ProbeRef, Runbook
from chaosdrill.validate import check_run

__all__ = ["DEFAULT_PROFILE", "Scenario", "call_activity"]

log = logging.getLogger("chaosdrill.rehearsal")

# A runbook that names a fault and no experiment rehearses under this load (the sandbox's
# two interactive tenants, as its experiments load it).
DEFAULT_PROFILE: dict[str, Any] = {
    "streams": [
        {"name": "chat", "tenant": "acme", "priority": "interactive", "rate": 60, "users": 300},
        {"name": "assistant", "tenant": "globex", "priority": "interactive", "rate": 30, "users": 300},
    ]
}
# The fault outlives the rehearsal's bound by this much, so the watchdog never races the sweep.
TTL_MARGIN_S = 60.0


def call_activity(ref: ProbeRef, configuration: Mapping[str, Any]) -> Any:
    """Call ``module.func(**arguments)`` as chaoslib would, with the configuration."""
    fn = getattr(importlib.import_module(ref.module), ref.func)
    return fn(**ref.arguments, configuration=dict(configuration), secrets=None)


def _control_arguments(experiment: Mapping[str, Any], module: str) -> dict[str, Any] | None:
    for control in experiment.get("controls") or []:
        provider = control.get("provider") if isinstance(control, Mapping) else None
        if isinstance(provider, Mapping) and provider.get("module") == module:
            return dict(provider.get("arguments") or {})
    return None


def _resolve(configuration: Mapping[str, Any], source: str) -> dict[str, Any]:
    from chaoslib.configuration import load_configuration

    try:
        resolved: dict[str, Any] = load_configuration(dict(configuration))
    except Exception as e:  # chaoslib raises InvalidExperiment, or ValueError on a bad env var type
        raise BadInput(source, "configuration", f"cannot resolve: {e}") from e
    return resolved


def _with_ttl(ref: ProbeRef, ttl_s: float) -> ProbeRef:
    fn = getattr(importlib.import_module(ref.module), ref.func)
    if "ttl_s" not in inspect.signature(fn).parameters:
        return ref
    return ProbeRef(ref.module, ref.func, {**ref.arguments, "ttl_s": ttl_s})


@dataclass
class Scenario:
    """Load plus fault for one rehearsal; :meth:`start`, then always :meth:`stop`."""

    runbook: Runbook
    run_dir: Path
    max_duration_s: float
    overrides: Mapping[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    faults: list[ProbeRef] = field(default_factory=list)
    fault_at: float | None = None
    started: bool = False
    _experiment: dict[str, Any] = field(default_factory=dict)
    _state: dict[str, Any] = field(default_factory=dict)

    def prepare(self) -> None:
        """Read and check everything; nothing is started, nothing injected. Raises BadInput."""
        source = str(self.runbook.experiment or self.runbook.source)
        self._experiment = experiment_of(self.runbook)
        declared = self._experiment.get("configuration") or {}
        self.configuration = _resolve({**declared, **self.overrides}, source)
        check_run(self._experiment or None, self.configuration, source)
        faults = fault_activities(self.runbook, self._experiment, target_of(self.configuration))
        if not faults:
            raise BadInput(str(self.runbook.source), "experiment", "nothing to rehearse: no fault to inject")
        self.faults = [_with_ttl(f, self.max_duration_s + TTL_MARGIN_S) for f in faults]

    def start(self) -> None:
        """Open the run, start the load and the guardrail, inject the fault (ledger first)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.environ[runctx.RUN_DIR_ENV] = str(self.run_dir)
        self.started = True
        ledger_control.configure_control(self._experiment or None, self.configuration, None)
        ledger_control.before_experiment_control(None)
        load_args = _control_arguments(self._experiment, load_control.__name__)
        load = load_args if load_args is not None else {"profile": DEFAULT_PROFILE, "warmup_s": 3}
        load_control.before_experiment_control(
            None,
            **{**load, "max_duration_s": self.max_duration_s + TTL_MARGIN_S},
            configuration=self.configuration,
        )
        guard = _control_arguments(self._experiment, guardrail_control.__name__) or {}
        guard.setdefault("slo", float(self.configuration.get("slo_availability", 0.995)))
        guardrail_control.before_experiment_control(None, **guard)
        ledger_control.before_method_control(None)
        for ref in self.faults:
            log.info("rehearsal: injecting %s %s", ref.qualified_name, dict(ref.arguments))
            call_activity(ref, self.configuration)
        run_id = runctx.run_id()
        recorded = default_ledger().of_run(run_id) if run_id else []
        self.fault_at = min((r.fault.at for r in recorded), default=None)

    def active_faults(self) -> list[str]:
        """Descriptions of this run's faults the ledger still holds as active."""
        run_id = runctx.run_id()
        return [f.description for f in default_ledger().active(run_id=run_id)] if run_id else []

    def stop(self) -> dict[str, Any]:
        """Revert every fault of this run through the ledger, stop the guardrail and the load.

        Safe to call twice, and after a failed :meth:`start`. Returns what was done: the
        sweep's reverted and failed faults, the guardrail's verdict, the run's faults.
        """
        if not self.started:
            return {}
        self.started = False
        ledger_control.after_method_control(None)
        state: dict[str, Any] = {}
        try:
            guardrail_control.after_experiment_control(None, state=state)
        finally:
            try:
                ledger_control.after_experiment_control(None, state=state)
            finally:
                load_control.after_experiment_control(None, state=state)
                guardrail_control.cleanup_control()
                ledger_control.cleanup_control()
        self._state = state.get("chaosdrill", {})
        return self._state
