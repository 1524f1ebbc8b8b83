"""Switch a defence off: a drill of "what if the breaker (the HPA, failover) were not there?".

The gateway's defences (breaker, fallback, rate limit), the autoscaler's decisions for a DC,
and the edge's health checks of a DC. Turning a defence off is a fault like any other:
recorded before it lands, verified by the component's own report, and undone (the previous
setting restored) on every exit path. These are what the negative controls switch off.
"""

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput, FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["KINDS", "AutoscalerPaused", "DefencesOff", "DefencesUndo", "HealthChecksOff", "SwitchUndo"]

DEFENCES = ("breaker", "fallback", "rate_limit")


class DefencesUndo(TypedDict):
    """The gateway's switches as they were before the fault, and where the gateway is."""

    instance: str
    url: str
    defences: dict[str, bool]


class DefencesOff(FaultKind):
    """Turn off the named defences (``breaker``, ``fallback``, ``rate_limit``) on a DC's gateway."""

    name = "defences_off"
    targets = (Target.SANDBOX,)
    activities = {
        "actions.defences.disable_defences": "inject",
        "actions.defences.restore_defences": "remove",
    }

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"defences:{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc = str(args["dc"])
        changes = {name: False for name in DEFENCES if args.get(name)}
        if not changes:
            raise BadInput(
                "<argument>", "breaker/fallback/rate_limit", "name at least one defence to disable"
            )
        sandbox = env.drivers.sandbox()
        url = sandbox.gateway_url(dc)
        current = sandbox.admin_get(url, "/admin/state")["defences"]
        unknown = sorted(set(changes) - set(current))
        if unknown:
            raise BadInput("<argument>", unknown[0], f"not a gateway defence (known: {', '.join(current)})")
        previous = {k: bool(current[k]) for k in changes}
        return Plan(
            key=self.key(env, args),
            description=f"set defences {changes} on the {dc} gateway",
            undo=DefencesUndo(instance=sandbox.instance_id, url=url, defences=previous),
            touches=tuple(
                f"gateway {dc}: turn {name} off (now {'on' if on else 'off'})"
                for name, on in previous.items()
            ),
            details={"defences_off": sorted(changes), "previous": previous},
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox, "changes": changes},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        changes: dict[str, bool] = plan.work["changes"]
        url = str(plan.undo["url"])
        now = plan.work["sandbox"].post(f"{url}/admin/defences", changes)["defences"]
        if any(now[k] != v for k, v in changes.items()):
            raise FaultNotApplied(f"gateway {plan.dc_selector} reports defences {now}, wanted {changes}")
        return {"dc": plan.dc_selector, "previous": plan.undo["defences"], "now": changes}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(DefencesUndo, undo)
        sandbox = drivers.sandbox_instance(state["instance"])
        if sandbox is not None:
            sandbox.post(f"{state['url']}/admin/defences", dict(state["defences"]))

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"dc": str(args["dc"])}


class SwitchUndo(TypedDict):
    """Where a sandbox component's per-DC switch is, and whether it was on before the fault."""

    instance: str
    url: str
    dc: str
    was_on: bool


class _PerDcSwitch(FaultKind):
    """A per-DC switch on a sandbox component (``state[component]["url"]``) turned off.

    ``path`` takes ``{"dc": dc, field: value}``; ``value(on)`` is what the body carries to
    turn the defence on or off; ``is_on(state, dc)`` reads it back from ``state_path``.
    """

    targets = (Target.SANDBOX,)
    component: str
    path: str
    state_path: str
    field: str
    what: str

    def value(self, on: bool) -> bool:
        raise NotImplementedError

    def is_on(self, state: Mapping[str, Any], dc: str) -> bool:
        raise NotImplementedError

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"{self.name}:{args['dc']}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc = str(args["dc"])
        sandbox = env.drivers.sandbox()
        if dc not in sandbox.dcs:
            raise BadInput(
                "<argument>", "dc", f"{dc!r} is not a data center of the sandbox ({', '.join(sandbox.dcs)})"
            )
        where = sandbox.state.get(self.component) or {}
        url = str(where.get("url") or "")
        if not url:
            raise FaultNotApplied(
                f"the sandbox runs no {self.component}, so its {self.what} cannot be turned off"
            )
        was_on = self.is_on(sandbox.admin_get(url, self.state_path), dc)
        if not was_on:
            # Stacking would record "off" as the state to restore, leaving it off for good.
            raise BadInput("<argument>", "dc", f"the {self.what} of {dc} is off already; restore it first")
        return Plan(
            key=self.key(env, args),
            description=f"turn off the {self.what} of {dc}",
            undo=SwitchUndo(instance=sandbox.instance_id, url=url, dc=dc, was_on=was_on),
            touches=(f"{self.component} {dc}: turn its {self.what} off (now on)",),
            details={self.name: dc},
            dc_selector=dc,
            dcs=(dc,),
            work={"sandbox": sandbox},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox = plan.work["sandbox"]
        url, dc = str(plan.undo["url"]), str(plan.undo["dc"])
        sandbox.post(f"{url}{self.path}", {"dc": dc, self.field: self.value(False)})
        if self.is_on(sandbox.admin_get(url, self.state_path), dc):
            raise FaultNotApplied(f"the {self.component} reports the {self.what} of {dc} still on")
        return {"dc": dc, "previous": "on", "now": "off"}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        state = cast(SwitchUndo, undo)
        sandbox = drivers.sandbox_instance(state["instance"])
        if sandbox is not None:
            body = {"dc": state["dc"], self.field: self.value(bool(state["was_on"]))}
            sandbox.post(f"{state['url']}{self.path}", body)

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"dc": str(args["dc"])}


class AutoscalerPaused(_PerDcSwitch):
    """Pause the sandbox autoscaler's decisions for a DC's pools (they keep their replicas)."""

    name = "autoscaler_paused"
    activities = {
        "actions.defences.pause_autoscaler": "inject",
        "actions.defences.resume_autoscaler": "remove",
    }
    component = "autoscaler"
    path = "/admin/paused"
    state_path = "/admin/state"
    field = "paused"
    what = "autoscaling"

    def value(self, on: bool) -> bool:
        return not on  # autoscaling on = not paused

    def is_on(self, state: Mapping[str, Any], dc: str) -> bool:
        return dc not in (state.get("paused") or [])


class HealthChecksOff(_PerDcSwitch):
    """Stop the edge's health checks of a DC: it keeps its health, so its cells never move."""

    name = "health_checks_off"
    activities = {
        "actions.defences.disable_health_checks": "inject",
        "actions.defences.restore_health_checks": "remove",
    }
    component = "edge"
    path = "/admin/health-checks"
    state_path = "/admin/health-checks"
    field = "enabled"
    what = "health checks"

    def value(self, on: bool) -> bool:
        return on

    def is_on(self, state: Mapping[str, Any], dc: str) -> bool:
        return dc not in (state.get("stopped") or [])


KINDS = (DefencesOff(), AutoscalerPaused(), HealthChecksOff())
