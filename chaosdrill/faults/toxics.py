"""One implementation of every toxiproxy toxic fault: latency, bandwidth, blackhole, resets,
and the sandbox's zone partition. A kind says which toxic it adds and with which attributes;
this class selects the links, records, adds, verifies, removes and undoes.

Links come from the sandbox's state on the sandbox, and from the system file's ``toxiproxy``
section on any other system: the same :class:`~chaosdrill.drivers.toxiproxy.Link` either way,
so everything past the selection is one code path.
"""

import fnmatch
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict, cast

import requests

from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.sandbox import HTTP_TIMEOUT_S, SandboxDriver
from chaosdrill.drivers.system import SystemDriver
from chaosdrill.drivers.target import Target
from chaosdrill.drivers.toxiproxy import Link
from chaosdrill.errors import ActivityFailed, FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = [
    "LinkSource",
    "LinksUndo",
    "ToxicFault",
    "link_source",
    "links_undo",
    "observe_latency",
    "toxic_servers",
    "undo_clients",
]

LinkSource = SandboxDriver | SystemDriver


class LinksUndo(TypedDict, total=False):
    """A link fault's undo state: the proxies per toxiproxy server (``api``/``proxies`` alone in
    records older than systems), and the sandbox instance when the links were the sandbox's."""

    instance: str
    api: str
    proxies: list[str]
    servers: dict[str, list[str]]
    toxic: str


def link_source(env: Env) -> LinkSource:
    """Where the experiment's links are: the running sandbox, or its system file."""
    if env.target is Target.SYSTEM:
        source: LinkSource = env.drivers.system(env.configuration)
        return source
    sandbox: SandboxDriver = env.drivers.sandbox()
    return sandbox


def toxic_servers(chosen: list[Link]) -> dict[str, list[str]]:
    """The chosen proxies grouped by the toxiproxy server they live on."""
    servers: dict[str, list[str]] = {}
    for lk in chosen:
        servers.setdefault(lk.api, []).append(lk.proxy)
    return servers


def links_undo(source: "LinkSource", chosen: list[Link], toxic: str | None = None) -> LinksUndo:
    """The undo state of a fault on ``chosen``: every proxy by server, and the sandbox instance."""
    undo = LinksUndo(api=chosen[0].api, proxies=[lk.proxy for lk in chosen], servers=toxic_servers(chosen))
    if isinstance(source, SandboxDriver):
        undo["instance"] = source.instance_id
    if toxic is not None:
        undo["toxic"] = toxic
    return undo


def undo_clients(drivers: Any, undo: Mapping[str, Any]) -> list[tuple[Any, list[str]]]:
    """The toxiproxy clients and proxies a recorded link fault is undone on; none once the
    sandbox instance it was recorded on has gone (its proxies went with it)."""
    state = cast(LinksUndo, undo)
    servers = dict(state.get("servers") or {state["api"]: list(state["proxies"])})
    if "instance" in state:
        sandbox = drivers.sandbox_instance(state["instance"])
        if sandbox is None:
            return []
        return [(sandbox.toxiproxy(api), proxies) for api, proxies in servers.items()]
    return [(drivers.toxiproxy(api), proxies) for api, proxies in servers.items()]


class ToxicFault(FaultKind):
    """A named toxic on every link a (dc, az, link) glob selects."""

    targets: ClassVar[tuple[Target, ...]] = (Target.SANDBOX, Target.SYSTEM)
    toxic: ClassVar[str]  # the toxic's name on the proxy: "chaosdrill-latency"
    toxic_type: ClassVar[str]  # toxiproxy's type: "latency", "timeout", ...
    stream: ClassVar[str] = "downstream"

    @abstractmethod
    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The toxic's attributes from the action's arguments (BadInput if they are wrong)."""

    def selection(self, env: Env, args: Mapping[str, Any]) -> tuple[str, str, str]:
        """The (dc, az, link) globs the fault applies to."""
        return str(args.get("dc", "*")), str(args.get("az", "*")), str(args.get("link", "replicas"))

    def verify(self, source: LinkSource, chosen: list[Link], attributes: Mapping[str, Any]) -> None:
        """Past the toxic being listed: feel it, where a kind can (latency does)."""

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        dc, az, link = self.selection(env, args)
        return f"toxic:{self.toxic}:{dc}/{az}/{link}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        attributes = self.attributes(args)
        dc, az, link = self.selection(env, args)
        source = link_source(env)
        chosen = source.select_links(dc, az, link)
        proxies = [lk.proxy for lk in chosen]
        servers = toxic_servers(chosen)
        held = [
            p
            for api, names in servers.items()
            for p, px in source.toxiproxy(api).proxies().items()
            if p in names and any(t.get("name") == self.toxic for t in px.toxics)
        ]
        if held:
            # Adding it again would fail half-way, and undoing that would take the other fault's
            # toxic with it: refuse before anything is recorded.
            raise ActivityFailed(
                f"{self.toxic} is already on {held} (another fault, not yet removed); remove it before adding it to {dc}/{az}/{link}"
            )
        touches = []
        for lk in chosen:
            empty = "" if lk.has_replica or lk.link != "replicas" else " [slot without a replica now]"
            touches.append(f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): add {self.toxic}{empty}")
        return Plan(
            key=self.key(env, args),
            description=f"{self.toxic_type} {attributes} on {len(proxies)} proxies of {dc}/{az}/{link}",
            undo=links_undo(source, chosen, self.toxic),
            touches=tuple(touches),
            details={"proxies": proxies, "toxic": self.toxic},
            dc_selector=dc,
            dcs=tuple(d for d in source.dcs if fnmatch.fnmatchcase(d, dc)),
            work={"source": source, "chosen": chosen, "attributes": attributes},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        source: LinkSource = plan.work["source"]
        chosen: list[Link] = plan.work["chosen"]
        attributes: dict[str, Any] = plan.work["attributes"]
        for lk in chosen:
            source.toxiproxy(lk.api).add_toxic(lk.proxy, self.toxic, self.toxic_type, attributes, self.stream)
        missing = [
            lk.proxy
            for lk in chosen
            if not any(t.get("name") == self.toxic for t in source.toxiproxy(lk.api).toxics(lk.proxy))
        ]
        if missing:
            raise FaultNotApplied(f"toxic {self.toxic} not present on {missing} after injection")
        self.verify(source, chosen, attributes)
        return {"proxies": [lk.proxy for lk in chosen], "toxic": self.toxic, "attributes": attributes}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        toxic = cast(LinksUndo, undo)["toxic"]
        for client, proxies in undo_clients(drivers, undo):
            for proxy in proxies:
                client.remove_toxic(proxy, toxic)

    def plan_remove(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc, az, link = self.selection(env, args)
        chosen = link_source(env).select_links(dc, az, link)
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
        source = link_source(env)
        chosen = source.select_links(dc, az, link)
        for lk in chosen:
            source.toxiproxy(lk.api).remove_toxic(lk.proxy, self.toxic)
        return {"removed_from": [lk.proxy for lk in chosen]}


def observe_latency(source: LinkSource, chosen: list[Link], attributes: Mapping[str, Any]) -> None:
    """A listed toxic is not a felt one: time a GET of one selected link's health URL.

    FaultNotApplied unless it takes at least 0.8 x (latency - jitter); links with no health
    URL (a Redis link, an empty replica slot, a system file that names none) are skipped.
    """
    expected_s = max(float(attributes.get("latency", 0)) - float(attributes.get("jitter", 0)), 0.0) / 1000
    candidates = [lk for lk in chosen if lk.health_url]
    if not candidates or expected_s <= 0:
        return
    last_error = ""
    for lk in candidates[:3]:  # a replica may be restarting: try another before giving up
        assert lk.health_url is not None
        try:
            took = source.timed_get(lk.health_url, expected_s + HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            last_error = f"{lk.proxy}: {e}"
            continue
        if took < 0.8 * expected_s:
            raise FaultNotApplied(
                f"latency not observed: GET {lk.health_url} through {lk.proxy} took {took * 1000:.0f} ms, "
                f"expected at least {0.8 * expected_s * 1000:.0f} ms (0.8 x {expected_s * 1000:.0f} ms)"
            )
        return
    raise FaultNotApplied(
        f"latency could not be observed through any selected link's health URL ({last_error})"
    )
