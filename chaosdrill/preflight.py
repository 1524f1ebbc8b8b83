"""Preflight: what an experiment would touch, resolved against the live target, touching nothing.

A drill's worst failure is a fault on the wrong thing: a glob that matches every DC, a
percentage that takes out a whole pool. Preflight answers "what exactly will this hit?"
before ``chaos run`` does. Each action is planned by the fault kind it injects or removes,
with the very ``plan`` the injection itself runs (:mod:`chaosdrill.faults`): the toxiproxy
proxies a link fault selects, the replicas a kill would SIGKILL, the gateway defences a
switch would flip, the load streams a surge would multiply, the nodes, pods and
Deployments a Kubernetes fault would change (read from the live cluster); and the plan is
held to the same blast-radius check (``chaosdrill_allow_dcs``, ``chaosdrill_max_percentage``,
``chaosdrill_allow_namespaces``) the engine applies before injecting. With
``chaosdrill_max_concurrent_faults`` set, the faults active at once are counted in run order
(the ledger's active faults now, plus the method's injections not yet removed), and an
injection past the cap is a problem, as the engine would refuse it.

Activities are bound to their real function signatures (defaults included), so an argument
the function does not take is caught here too. Actions are loaded by name at run time:
the engine never imports the activity packages statically.

Outcome: no problems (exit 0); problems that would make the run refuse or fail an action
(exit 1); a malformed experiment or a target that is not running is bad input (exit 2).
"""

import importlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chaosdrill.drivers.target import Target, target_of
from chaosdrill.errors import ActivityFailed, BadInput, NotRunning, PermanentError, TemporaryError
from chaosdrill.faults import blast, registry
from chaosdrill.faults.drivers import Drivers
from chaosdrill.faults.kind import Env
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox.lifecycle import require_state
from chaosdrill.schemas.reader import read_document
from chaosdrill.validate import LOAD_CONTROL, Kind, validate_file

__all__ = ["Preflight", "PreflightDrivers", "Touch", "run_preflight"]

RUN_TIME = "resolved at run time"


@dataclass(frozen=True)
class Touch:
    """One activity of the method or the rollbacks, and what it would touch."""

    where: str  # "method[0]", "rollbacks[1]"
    name: str
    activity: str  # "actions.latency.add_latency"
    kind: str  # "action" or "probe"
    arguments: dict[str, Any]
    touches: list[str] = field(default_factory=list)  # one human line per thing touched
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Preflight:
    source: str
    title: str
    target: str
    max_percentage: float
    max_concurrent_faults: int | None
    allow_dcs: list[str] | None
    allow_namespaces: list[str] | None
    activities: list[Touch]

    @property
    def problems(self) -> list[str]:
        return [f"{t.where} {t.name}: {p}" for t in self.activities for p in t.problems]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems, "ok": not self.problems}


@dataclass(frozen=True)
class PlannedLoad:
    """The load control's worker as preflight sees it: declared, not yet started."""

    pid: int = 0
    control_url: str = "(started by the load control)"


class PreflightDrivers(Drivers):
    """The real drivers, but the load is the experiment's declared profile (it runs only
    once the experiment does)."""

    def __init__(self, streams: Sequence[Mapping[str, Any]] | None) -> None:
        self._streams = streams

    def load(self) -> Any:
        return PlannedLoad() if self._streams is not None else None

    def load_streams(self) -> list[Mapping[str, Any]] | None:
        return list(self._streams) if self._streams is not None else None


def _plan(activity: str, args: Mapping[str, Any], env: Env, touch: Touch) -> Touch:
    """Fill ``touch`` from the plan of the fault kind this action injects or removes."""
    found = registry.by_activity(activity, env.target)
    if found is None:
        elsewhere = [t.value for t in Target if registry.by_activity(activity, t)]
        if elsewhere:
            touch.problems.append(
                f"a {'/'.join(elsewhere)} action, but the experiment targets {env.target.value}"
            )
            return touch
        return replace(touch, note=f"no fault kind claims this action; {RUN_TIME}")
    kind, verb = found
    try:
        planned = kind.plan(env, args) if verb == "inject" else kind.plan_remove(env, args)
    except (ActivityFailed, BadInput, NotRunning, TemporaryError, PermanentError) as e:
        touch.problems.append(str(e))
        return touch
    touch.touches.extend(planned.touches)
    touch.details.update(planned.details)
    if verb == "inject":
        touch.problems.extend(blast.problems(planned, env.configuration))
    return replace(touch, note=f"{verb} {kind.name} on {env.target.value}")


def _check_concurrency(touches: Sequence[Touch], env: Env, active_now: int) -> None:
    """Count, action by action in run order, the faults active at once (those the ledger
    holds now, plus the method's injections not yet removed), and add a problem to each
    injection that would exceed ``chaosdrill_max_concurrent_faults``; the engine refuses
    the same injection at run time."""
    if blast.max_concurrent_faults(env.configuration) is None:
        return
    open_faults: list[tuple[str, str]] = []  # (kind, key) of faults the method leaves active
    for touch in touches:
        found = registry.by_activity(touch.activity, env.target)
        if found is None or touch.problems:  # refused or failing anyway: it adds no fault
            continue
        kind, verb = found
        try:
            key = kind.key(env, touch.arguments)
        except (KeyError, ValueError, TypeError, BadInput):
            continue
        if verb == "remove":
            open_faults = [f for f in open_faults if f != (kind.name, key)]
            continue
        problem = blast.concurrency_problem(
            env.configuration, active_now + len(open_faults), f"{kind.name} {key}"
        )
        if problem is not None:
            touch.problems.append(problem)
        elif not kind.instant:
            open_faults.append((kind.name, key))


# --------------------------------------------------------------------------- the run


def _bind(module: str, func: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments with the function's defaults filled in; TypeError if they don't fit."""
    fn = getattr(importlib.import_module(module), func)
    bound = inspect.signature(fn).bind(**arguments)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("configuration", "secrets")}


def _streams(experiment: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    for control in experiment.get("controls") or []:
        provider = control.get("provider") or {}
        if provider.get("module") == LOAD_CONTROL:
            streams: list[Mapping[str, Any]] = provider["arguments"]["profile"]["streams"]
            return streams
    return None


def _resolve(configuration: Mapping[str, Any], source: str) -> dict[str, Any]:
    from chaoslib.configuration import load_configuration

    try:
        resolved: dict[str, Any] = load_configuration(dict(configuration))
    except Exception as e:  # chaoslib raises InvalidExperiment, or ValueError on a bad env_var_type value
        raise BadInput(source, "configuration", f"cannot resolve: {e}") from e
    return resolved


def _touch(where: str, activity: Mapping[str, Any], env: Env) -> Touch:
    provider = activity.get("provider") or {}
    name = str(activity.get("name", ""))
    if provider.get("type") != "python":
        return Touch(where, name, str(provider.get("type")), str(activity.get("type")), {}, note=RUN_TIME)
    module, func = str(provider["module"]), str(provider["func"])
    touch = Touch(where, name, f"{module}.{func}", str(activity.get("type")), {})
    try:
        touch.arguments.update(_bind(module, func, provider.get("arguments") or {}))
    except (ImportError, AttributeError, TypeError) as e:
        touch.problems.append(f"cannot call {module}.{func} with these arguments: {e}")
        return touch
    if activity.get("type") == "probe":
        return replace(touch, note="probe: reads only")
    return _plan(touch.activity, touch.arguments, env, touch)


def run_preflight(path: Path) -> Preflight:
    """Resolve every method and rollback activity of the experiment at ``path``; touch nothing."""
    source = str(path)
    validate_file(path, Kind.EXPERIMENT)
    experiment: dict[str, Any] = read_document(path)
    configuration = _resolve(experiment.get("configuration") or {}, source)
    target = target_of(configuration)
    if target is Target.SANDBOX:
        require_state()  # not running: bad input, before any activity is planned
    env = Env(configuration, target, PreflightDrivers(_streams(experiment)))
    by_name = {
        a.get("name"): a
        for a in [*(experiment.get("steady-state-hypothesis") or {}).get("probes", []), *experiment["method"]]
        if "name" in a
    }
    touches = []
    for section in ("method", "rollbacks"):
        for i, activity in enumerate(experiment.get(section) or []):
            resolved = by_name.get(activity["ref"], activity) if "ref" in activity else activity
            touches.append(_touch(f"{section}[{i}]", resolved, env))
    cap = blast.max_concurrent_faults(configuration)
    if cap is not None:
        _check_concurrency(touches, env, len(default_ledger().active()))
    dcs = configuration.get("chaosdrill_allow_dcs")
    namespaces = configuration.get("chaosdrill_allow_namespaces")
    return Preflight(
        source=source,
        title=str(experiment.get("title", "")),
        target=target.value,
        max_percentage=blast.max_percentage(configuration),
        max_concurrent_faults=cap,
        allow_dcs=list(dcs) if isinstance(dcs, list) else None,
        allow_namespaces=list(namespaces) if isinstance(namespaces, list) else None,
        activities=touches,
    )
