"""Preflight: what an experiment would touch, resolved against the live target, touching nothing.

A drill's worst failure is a fault on the wrong thing: a glob that matches every DC, a
percentage that takes out a whole pool. Preflight answers "what exactly will this hit?"
before ``chaos run`` does: the toxiproxy proxies a link fault selects, the replicas a kill
would SIGKILL (the same :func:`chaosdrill.targets.sandbox.plan_kill` the kill itself uses),
the gateway defences a switch would flip, the load streams a surge would multiply; and it
applies the blast-radius settings (``chaosdrill_allow_dcs``, ``chaosdrill_max_percentage``,
``chaosdrill_allow_namespaces``) the actions would apply. On Kubernetes, selections depend
on the cluster at run time; preflight shows the action and its arguments and checks the
namespace allowlist.

Activities are bound to their real function signatures (defaults included), so an argument
the function does not take is caught here too. Actions are loaded by name at run time:
the engine never imports the activity packages statically.

Outcome: no problems (exit 0); problems that would make the run refuse or fail an action
(exit 1); a malformed experiment or a target that is not running is bad input (exit 2).
"""

import fnmatch
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chaosdrill.activity import check_dc_allowed, max_percentage, namespace_problem
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.schemas.reader import read_document
from chaosdrill.targets import Target, target_of
from chaosdrill.validate import LOAD_CONTROL, Kind, validate_file

__all__ = ["PLANNERS", "Context", "Preflight", "Touch", "run_preflight"]

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
    allow_dcs: list[str] | None
    allow_namespaces: list[str] | None
    activities: list[Touch]

    @property
    def problems(self) -> list[str]:
        return [f"{t.where} {t.name}: {p}" for t in self.activities for p in t.problems]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems, "ok": not self.problems}


@dataclass(frozen=True)
class Context:
    """What a planner may read: the resolved configuration, the live sandbox state, the load."""

    configuration: Mapping[str, Any]
    target: Target
    state: Mapping[str, Any] | None
    streams: Sequence[Mapping[str, Any]] | None  # the load control's streams; None: no load control


Planner = Callable[[Mapping[str, Any], Context, Touch], None]


# --------------------------------------------------------------------------- planners


def _sandbox_state(ctx: Context, touch: Touch) -> Mapping[str, Any] | None:
    if ctx.state is None:
        touch.problems.append("a sandbox action, but the experiment targets kubernetes")
    return ctx.state


def _note_dc_allowed(dc: str, ctx: Context, touch: Touch) -> None:
    """A DC outside ``chaosdrill_allow_dcs`` is a problem to report, not an exception."""
    try:
        check_dc_allowed(dc, ctx.configuration)
    except ActivityFailed as e:
        touch.problems.append(str(e))


def _sandbox_unless_kubernetes(
    what: str, args: Mapping[str, Any], ctx: Context, touch: Touch
) -> Mapping[str, Any] | None:
    """The sandbox state to plan with; None when there is none (a problem noted) or when
    the experiment targets Kubernetes, where the action is planned as known at run time."""
    if ctx.target is Target.KUBERNETES:
        _kubernetes(what, args, ctx, touch)
        return None
    return _sandbox_state(ctx, touch)


def _links(toxic: str | None, checks_allowlist: bool) -> Planner:
    def plan(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        from chaosdrill.targets.sandbox import select_links

        state = _sandbox_state(ctx, touch)
        if state is None:
            return
        if checks_allowlist:
            _note_dc_allowed(str(args["dc"]), ctx, touch)
        try:
            chosen = select_links(state, str(args["dc"]), str(args["az"]), str(args["link"]))
        except ActivityFailed as e:
            touch.problems.append(str(e))
            return
        touch.details["proxies"] = [lk.proxy for lk in chosen]
        if toxic:
            touch.details["toxic"] = toxic
        verb = "remove toxic" if not checks_allowlist else f"add {toxic}" if toxic else "toggle"
        for lk in chosen:
            empty = "" if lk.has_replica or lk.link != "replicas" else " [slot without a replica now]"
            touch.touches.append(f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): {verb}{empty}")

    return plan


def _kill_pods(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
    if ctx.target is Target.KUBERNETES:
        _kube_namespace(args, ctx, touch)
        touch.touches.append(
            f"pods matching {args['selector']!r} in namespace {args['namespace']!r}: {RUN_TIME}"
        )
        return
    from chaosdrill.targets.sandbox import plan_kill

    state = _sandbox_state(ctx, touch)
    if state is None:
        return
    try:
        plan = plan_kill(
            state, str(args["selector"]), args["count"], args["percentage"], max_percentage(ctx.configuration)
        )
    except (ActivityFailed, BadInput) as e:
        touch.problems.append(str(e))
        return
    touch.details["matched"] = [r.name for r in plan.matched]
    touch.details["replicas"] = [{"name": r.name, "pid": r.pid} for r in plan.victims]
    for r in plan.victims:
        touch.touches.append(f"SIGKILL replica {r.name} (pid {r.pid})")
    touch.touches.append(f"{len(plan.victims)} of {len(plan.matched)} replicas matching {plan.selector!r}")


def _defences(turn_off: bool) -> Planner:
    def plan(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        state = _sandbox_state(ctx, touch)
        if state is None:
            return
        dc = str(args["dc"])
        if turn_off:
            _note_dc_allowed(dc, ctx, touch)
        info = state["dcs"].get(dc)
        if info is None or not info.get("gateway"):
            touch.problems.append(
                f"no running gateway for data center {dc!r} (the sandbox has {', '.join(state['dcs'])})"
            )
            return
        if turn_off:
            names = [n for n in ("breaker", "fallback", "rate_limit") if args.get(n)]
            if not names:
                touch.problems.append("names no defence to disable")
            touch.details["defences_off"] = names
            touch.touches.append(f"gateway {dc} ({info['gateway']['url']}): switch off {', '.join(names)}")
        else:
            touch.touches.append(
                f"gateway {dc} ({info['gateway']['url']}): restore the defences switched off"
            )

    return plan


def _surge(starting: bool) -> Planner:
    def plan(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        if ctx.target is Target.KUBERNETES:
            _kube_namespace(args, ctx, touch)
            touch.touches.append(f"CPU usage of pods matching {args['selector']!r}: {RUN_TIME}")
            return
        pattern = str(args["stream"])
        if ctx.streams is None:
            if starting:
                touch.problems.append(
                    f"no {LOAD_CONTROL} control in the experiment: a surge needs running load"
                )
            return
        matched = [s for s in ctx.streams if fnmatch.fnmatchcase(str(s.get("name")), pattern)]
        if not matched:
            names = ", ".join(str(s.get("name")) for s in ctx.streams)
            touch.problems.append(f"stream {pattern!r} matches no load stream (streams: {names})")
            return
        factor = float(args["factor"]) if starting else 1.0
        touch.details["streams"] = [
            {"name": s["name"], "rate": s["rate"], "new_rate": float(s["rate"]) * factor} for s in matched
        ]
        for s in matched:
            change = (
                f"x{factor:g}: {s['rate']} -> {float(s['rate']) * factor:g} req/s"
                if starting
                else "back to its rate"
            )
            touch.touches.append(f"load stream {s['name']} (tenant {s.get('tenant', 'default')}): {change}")

    return plan


def _kube_namespace(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
    allowed = ctx.configuration.get("chaosdrill_allow_namespaces")
    namespace = args.get("namespace")
    if namespace is None:
        return
    problem = namespace_problem(str(namespace), allowed if isinstance(allowed, list) else None)
    if problem is not None:
        touch.problems.append(f"namespace: {problem}")


def _kubernetes(what: str, args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
    _kube_namespace(args, ctx, touch)
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    touch.touches.append(f"{what} ({shown}): {RUN_TIME}")


def _zone(
    what: str, sandbox_planner: Callable[[str, str, Mapping[str, Any], Context, Touch], None]
) -> Planner:
    """A zone action: run time on Kubernetes; on the sandbox, resolve ``<dc>-<az>`` first."""

    def plan(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        from chaosdrill.targets.sandbox import zone_pool

        state = _sandbox_unless_kubernetes(what, args, ctx, touch)
        if state is None:
            return
        try:
            dc, az = zone_pool(state, str(args["zone"]))
        except ActivityFailed as e:
            touch.problems.append(str(e))
            return
        sandbox_planner(dc, az, args, ctx, touch)

    return plan


def _hold_pool(held: bool) -> Callable[[str, str, Mapping[str, Any], Context, Touch], None]:
    def plan(dc: str, az: str, _args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        assert ctx.state is not None
        if held:
            _note_dc_allowed(dc, ctx, touch)
        slots = ctx.state["dcs"][dc]["azs"][az]["slots"]
        names = [s["replica"]["name"] for s in slots if s.get("replica")]
        touch.details["replicas"] = names
        verb = (
            "stop replicas " + ", ".join(names) + " and hold the pool at zero" if held else "release the pool"
        )
        touch.touches.append(f"supervisor: {dc}/{az}: {verb}")

    return plan


def _partition(remove: bool) -> Callable[[str, str, Mapping[str, Any], Context, Touch], None]:
    links = _links("chaosdrill-partition", not remove)

    def plan(dc: str, az: str, _args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        links({"dc": dc, "az": az, "link": "replicas"}, ctx, touch)

    return plan


def _dc(what: str, stop: bool) -> Planner:
    def plan(args: Mapping[str, Any], ctx: Context, touch: Touch) -> None:
        if stop and ctx.target is Target.KUBERNETES:
            _note_dc_allowed(str(args["dc"]), ctx, touch)
        state = _sandbox_unless_kubernetes(what, args, ctx, touch)
        if state is None:
            return
        dc = str(args["dc"])
        if dc not in state["dcs"]:
            touch.problems.append(f"unknown data center {dc!r}; the sandbox has {', '.join(state['dcs'])}")
            return
        if stop:
            _note_dc_allowed(dc, ctx, touch)
        verb = "stop its gateway; the edge moves its cells" if stop else "start its gateway again"
        touch.touches.append(f"data center {dc}: {verb}")

    return plan


PLANNERS: dict[str, Planner] = {
    "actions.latency.add_latency": _links("chaosdrill-latency", True),
    "actions.latency.remove_latency": _links("chaosdrill-latency", False),
    "actions.latency.add_bandwidth_limit": _links("chaosdrill-bandwidth", True),
    "actions.latency.remove_bandwidth_limit": _links("chaosdrill-bandwidth", False),
    "actions.network.add_blackhole": _links("chaosdrill-blackhole", True),
    "actions.network.remove_blackhole": _links("chaosdrill-blackhole", False),
    "actions.network.add_reset_peer": _links("chaosdrill-reset", True),
    "actions.network.remove_reset_peer": _links("chaosdrill-reset", False),
    "actions.network.disable_links": _links(None, True),
    "actions.network.enable_links": _links(None, False),
    "actions.pods.kill_pods": _kill_pods,
    "actions.defences.disable_defences": _defences(True),
    "actions.defences.restore_defences": _defences(False),
    "actions.traffic.surge": _surge(True),
    "actions.traffic.end_surge": _surge(False),
    "actions.zones.zone_outage": _zone("cordon and taint the zone's nodes", _hold_pool(True)),
    "actions.zones.zone_outage_rollback": _zone("uncordon the zone's nodes", _hold_pool(False)),
    "actions.zones.zone_partition": _zone("NetworkPolicy isolating the zone", _partition(False)),
    "actions.zones.zone_partition_rollback": _zone("delete the zone's NetworkPolicy", _partition(True)),
    "actions.datacenters.dc_failover": _dc("scale the DC's Deployments to 0 and move its cells", True),
    "actions.datacenters.dc_failover_rollback": _dc("restore the DC's replicas and cells", False),
}


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


def _touch(where: str, activity: Mapping[str, Any], ctx: Context) -> Touch:
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
    planner = PLANNERS.get(touch.activity)
    if planner is None:
        return replace(touch, note=f"no preflight planner for this action; {RUN_TIME}")
    planner(touch.arguments, ctx, touch)
    return touch


def run_preflight(path: Path) -> Preflight:
    """Resolve every method and rollback activity of the experiment at ``path``; touch nothing."""
    source = str(path)
    validate_file(path, Kind.EXPERIMENT)
    experiment: dict[str, Any] = read_document(path)
    configuration = _resolve(experiment.get("configuration") or {}, source)
    target = target_of(configuration)
    state: Mapping[str, Any] | None = None
    if target is Target.SANDBOX:
        from chaosdrill.sandbox.lifecycle import require_state

        state = require_state()
    ctx = Context(configuration, target, state, _streams(experiment))
    by_name = {
        a.get("name"): a
        for a in [*(experiment.get("steady-state-hypothesis") or {}).get("probes", []), *experiment["method"]]
        if "name" in a
    }
    touches = []
    for section in ("method", "rollbacks"):
        for i, activity in enumerate(experiment.get(section) or []):
            resolved = by_name.get(activity["ref"], activity) if "ref" in activity else activity
            touches.append(_touch(f"{section}[{i}]", resolved, ctx))
    dcs = configuration.get("chaosdrill_allow_dcs")
    namespaces = configuration.get("chaosdrill_allow_namespaces")
    return Preflight(
        source=source,
        title=str(experiment.get("title", "")),
        target=target.value,
        max_percentage=max_percentage(configuration),
        allow_dcs=list(dcs) if isinstance(dcs, list) else None,
        allow_namespaces=list(namespaces) if isinstance(namespaces, list) else None,
        activities=touches,
    )
