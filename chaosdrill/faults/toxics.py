"""One implementation of every toxiproxy toxic fault: latency, bandwidth, blackhole, resets,
and the sandbox's zone partition. A kind says which toxic it adds and with which attributes;
this class selects the links, records, adds, verifies, removes and undoes.
"""

import fnmatch
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.sandbox import HTTP_TIMEOUT_S, Link, SandboxDriver
from chaosdrill.drivers.target import Target
from chaosdrill.errors import FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["ToxicFault", "observe_latency"]


class ToxicFault(FaultKind):
    """A named toxic on every link a (dc, az, link) glob selects."""

    targets = (Target.SANDBOX,)
    toxic: ClassVar[str]  # the toxic's name on the proxy: "chaosdrill-latency"
    toxic_type: ClassVar[str]  # toxiproxy's type: "latency", "timeout", ...
    stream: ClassVar[str] = "downstream"

    @abstractmethod
    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The toxic's attributes from the action's arguments (BadInput if they are wrong)."""

    def selection(self, env: Env, args: Mapping[str, Any]) -> tuple[str, str, str]:
        """The (dc, az, link) globs the fault applies to."""
        return str(args.get("dc", "*")), str(args.get("az", "*")), str(args.get("link", "replicas"))

    def verify(self, sandbox: SandboxDriver, chosen: list[Link], attributes: Mapping[str, Any]) -> None:
        """Past the toxic being listed: feel it, where a kind can (latency does)."""

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        dc, az, link = self.selection(env, args)
        return f"toxic:{self.toxic}:{dc}/{az}/{link}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        attributes = self.attributes(args)
        dc, az, link = self.selection(env, args)
        sandbox = env.drivers.sandbox()
        chosen = sandbox.select_links(dc, az, link)
        proxies = [lk.proxy for lk in chosen]
        touches = []
        for lk in chosen:
            empty = "" if lk.has_replica or lk.link != "replicas" else " [slot without a replica now]"
            touches.append(f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): add {self.toxic}{empty}")
        return Plan(
            key=self.key(env, args),
            description=f"{self.toxic_type} {attributes} on {len(proxies)} proxies of {dc}/{az}/{link}",
            undo={
                "instance": sandbox.instance_id,
                "api": sandbox.toxiproxy_api,
                "proxies": proxies,
                "toxic": self.toxic,
            },
            touches=tuple(touches),
            details={"proxies": proxies, "toxic": self.toxic},
            dc_selector=dc,
            dcs=tuple(d for d in sandbox.dcs if fnmatch.fnmatchcase(d, dc)),
            work={"sandbox": sandbox, "chosen": chosen, "attributes": attributes},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        chosen: list[Link] = plan.work["chosen"]
        attributes: dict[str, Any] = plan.work["attributes"]
        client = sandbox.toxiproxy()
        proxies = [lk.proxy for lk in chosen]
        for proxy in proxies:
            client.add_toxic(proxy, self.toxic, self.toxic_type, attributes, self.stream)
        missing = [p for p in proxies if not any(t.get("name") == self.toxic for t in client.toxics(p))]
        if missing:
            raise FaultNotApplied(f"toxic {self.toxic} not present on {missing} after injection")
        self.verify(sandbox, chosen, attributes)
        return {"proxies": proxies, "toxic": self.toxic, "attributes": attributes}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        sandbox = drivers.sandbox_instance(str(undo.get("instance")))
        if sandbox is None:
            return  # the proxies went away with their sandbox instance
        client = sandbox.toxiproxy(str(undo["api"]))
        for proxy in undo["proxies"]:
            client.remove_toxic(proxy, str(undo["toxic"]))

    def plan_remove(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc, az, link = self.selection(env, args)
        chosen = env.drivers.sandbox().select_links(dc, az, link)
        return Plan(
            key=self.key(env, args),
            description=f"remove {self.toxic} from {dc}/{az}/{link}",
            undo={},
            touches=tuple(
                f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): remove {self.toxic}" for lk in chosen
            ),
            details={"proxies": [lk.proxy for lk in chosen], "toxic": self.toxic},
        )

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        dc, az, link = self.selection(env, args)
        sandbox = env.drivers.sandbox()
        chosen = sandbox.select_links(dc, az, link)
        client = sandbox.toxiproxy()
        for lk in chosen:
            client.remove_toxic(lk.proxy, self.toxic)
        return {"removed_from": [lk.proxy for lk in chosen]}


def observe_latency(sandbox: SandboxDriver, chosen: list[Link], attributes: Mapping[str, Any]) -> None:
    """A listed toxic is not a felt one: time a /healthz through one selected replica link.

    FaultNotApplied unless it takes at least 0.8 x (latency - jitter); links without a
    replica behind them (or Redis links) cannot be observed this way and are skipped.
    """
    expected_s = max(float(attributes.get("latency", 0)) - float(attributes.get("jitter", 0)), 0.0) / 1000
    candidates = [lk for lk in chosen if lk.link == "replicas" and lk.has_replica]
    if not candidates or expected_s <= 0:
        return
    last_error = ""
    for lk in candidates[:3]:  # a replica may be restarting: try another before giving up
        try:
            took = sandbox.timed_get(f"http://{lk.listen}/healthz", expected_s + HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            last_error = f"{lk.proxy}: {e}"
            continue
        if took < 0.8 * expected_s:
            raise FaultNotApplied(
                f"latency not observed: GET /healthz through {lk.proxy} took {took * 1000:.0f} ms, "
                f"expected at least {0.8 * expected_s * 1000:.0f} ms (0.8 x {expected_s * 1000:.0f} ms)"
            )
        return
    raise FaultNotApplied(f"latency could not be observed through any selected replica link ({last_error})")
