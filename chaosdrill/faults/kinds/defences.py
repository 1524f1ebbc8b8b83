"""Switch a gateway's defences off: a drill of "what if the breaker were not there?".

Turning a defence off is a fault like any other: recorded before it lands, verified by the
gateway's own report, and undone (the previous switches restored) on every exit path.
"""

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput, FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["KINDS", "DefencesOff", "DefencesUndo"]

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


KINDS = (DefencesOff(),)
