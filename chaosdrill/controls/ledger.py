"""Control: tie every fault of a run to the run, and revert what is left at the end.

Chaos Toolkit skips rollbacks on an interrupted run by default; this control does not
rely on them. Whatever the exit path — success, deviation, guardrail abort, Ctrl-C,
SIGTERM — the faults this run recorded and did not revert are reverted when the
experiment ends (``after_experiment_control``) or, failing that, when controls are
cleaned up (``cleanup_control``, which chaoslib runs in a ``finally``). After a
``kill -9`` the same faults are found by ``chaosdrill recover``.

Declare it first among the controls so it wraps the others:
``controls: [{name: chaosdrill-ledger, provider: {type: python, module: chaosdrill.controls.ledger}}]``
"""

import logging
from typing import Any

from chaoslib.exceptions import InterruptExecution

from chaosdrill import redact, runctx
from chaosdrill.errors import BadInput
from chaosdrill.ledger import default_ledger
from chaosdrill.recovery import revert_faults

__all__ = [
    "after_experiment_control",
    "after_method_control",
    "before_experiment_control",
    "before_method_control",
    "cleanup_control",
    "configure_control",
    "judge_method",
    "run_summary",
    "sweep",
]

log = logging.getLogger("chaosdrill.controls.ledger")


_refused: BadInput | None = None


def configure_control(
    experiment: Any = None, configuration: Any = None, secrets: Any = None, **_kwargs: Any
) -> None:
    """Open a run: faults recorded from now on carry its id; check the chaosdrill parts first.

    chaoslib swallows an exception raised here (it only unregisters the control), so a
    malformed experiment is remembered and refused by ``before_experiment_control``, which
    interrupts the run before the hypothesis, the load and any fault.
    """
    global _refused
    redact.arm(configuration, secrets, experiment)  # first: from here on no log line carries a secret
    _share_chaostoolkit_handlers()
    runctx.open_run()
    _refused = None
    if experiment is not None:
        # Lazy for start-up time: the schemas load only when a run has an experiment to check.
        from chaosdrill.validate import check_run

        try:
            check_run(experiment, configuration)
        except BadInput as e:
            log.error("refusing to run a malformed experiment: %s", e)
            _refused = e


def _share_chaostoolkit_handlers() -> None:
    """Send chaosdrill's log lines where chaostoolkit's go (console and chaostoolkit.log)."""
    ours, theirs = logging.getLogger("chaosdrill"), logging.getLogger("chaostoolkit")
    for handler in theirs.handlers:
        if handler not in ours.handlers:
            ours.addHandler(handler)
    if theirs.handlers:
        ours.setLevel(logging.INFO)
        ours.propagate = False  # the handlers above already print it once


def before_experiment_control(context: Any, **_kwargs: Any) -> None:
    """Interrupt the run (nothing injected, no rollbacks) if ``configure_control`` refused it."""
    if _refused is not None:
        raise InterruptExecution(f"chaosdrill: invalid experiment: {_refused}")


def before_method_control(context: Any, **_kwargs: Any) -> None:
    """Mark the method phase, so mechanism probes stop passing vacuously."""
    runctx.set_phase(runctx.Phase.METHOD)


def after_method_control(context: Any, **_kwargs: Any) -> None:
    runctx.set_phase(runctx.Phase.AFTER)


def sweep(how: str) -> dict[str, Any]:
    """Revert every still-active fault of this run; returns what was done."""
    run_id = runctx.run_id()
    if not run_id:
        return {"reverted": [], "failed": []}
    active = default_ledger().active(run_id=run_id)
    if not active:
        return {"reverted": [], "failed": []}
    log.warning("reverting %d fault(s) this run left active (%s)", len(active), how)
    return revert_faults(active, how=how).to_dict()


def run_summary() -> dict[str, Any]:
    run_id = runctx.run_id() or ""
    return {
        "run_id": run_id,
        "faults": [r.to_dict() for r in default_ledger().of_run(run_id)] if run_id else [],
    }


def judge_method(journal: dict[str, Any]) -> dict[str, list[str]]:
    """Make failures inside the method count, which chaoslib alone does not.

    chaoslib records a failed probe or action in the method and still ends the run
    ``completed`` (exit 0). Here a failed probe in the method is a finding about the system:
    the run is marked deviated. A failed action means the fault was not injected as
    written, so nothing was tested: the run is marked failed. Both make ``chaos run`` exit 1.
    """
    failed: dict[str, list[str]] = {"probes": [], "actions": []}
    for run in journal.get("run") or []:
        activity = run.get("activity") or {}
        if run.get("status") == "failed":
            kind = "probes" if activity.get("type") == "probe" else "actions"
            failed[kind].append(str(activity.get("name")))
    if journal.get("status") == "completed":
        if failed["probes"]:
            journal["deviated"] = True
        if failed["actions"]:
            journal["status"] = "failed"
    return failed


def after_experiment_control(context: Any, state: Any = None, **_kwargs: Any) -> None:
    """After rollbacks: sweep leftovers, judge the method, write the run's fault history."""
    swept = sweep("end-of-run")
    if isinstance(state, dict):
        section = state.setdefault("chaosdrill", {})
        section.update(run_summary())
        section["swept"] = swept
        section["method_failures"] = judge_method(state)
        redact.scrub_journal(state)  # before chaostoolkit writes it and any report reads it


def cleanup_control() -> None:
    """Last line of defence, from chaoslib's ``finally``: revert anything still active."""
    sweep("cleanup")
