"""Link faults through toxiproxy: latency, a bandwidth cap, a blackhole, connection resets,
and cutting a link outright.

Links are chosen by glob patterns on three names: the data center (``dc1``), the
availability zone (``az-a``) and the link (``replicas`` for gateway->replica pool,
``redis`` for gateway->Redis). An unknown link raises ``ActivityFailed`` naming the known
ones, and nothing is injected.
"""

import fnmatch
from collections.abc import Mapping
from typing import Any, cast

from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.target import Target
from chaosdrill.drivers.toxiproxy import Link, ToxiproxyError
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults.kind import Env, FaultKind, Plan
from chaosdrill.faults.toxics import (
    LinkSource,
    LinksUndo,
    ToxicFault,
    link_source,
    links_undo,
    observe_latency,
    toxic_servers,
    undo_clients,
)

__all__ = ["KINDS", "Bandwidth", "Blackhole", "Latency", "LinkCut", "ResetPeer"]


def _non_negative(args: Mapping[str, Any], *names: str) -> None:
    for name in names:
        value = args.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadInput("<argument>", name, f"must be a number >= 0, got {value!r}")


class Latency(ToxicFault):
    """Add ``latency_ms`` (± ``jitter_ms``) to every response crossing the selected links."""

    name = "latency"
    toxic = "chaosdrill-latency"
    toxic_type = "latency"
    activities = {"actions.latency.add_latency": "inject", "actions.latency.remove_latency": "remove"}

    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        _non_negative(args, "latency_ms", "jitter_ms")
        return {"latency": args["latency_ms"], "jitter": args.get("jitter_ms", 0)}

    def verify(self, source: LinkSource, chosen: list[Link], attributes: Mapping[str, Any]) -> None:
        observe_latency(source, chosen, attributes)


class Bandwidth(ToxicFault):
    """Cap the selected links' downstream bandwidth at ``rate_kb_s`` KB/s."""

    name = "bandwidth"
    toxic = "chaosdrill-bandwidth"
    toxic_type = "bandwidth"
    activities = {
        "actions.latency.add_bandwidth_limit": "inject",
        "actions.latency.remove_bandwidth_limit": "remove",
    }

    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        rate = args["rate_kb_s"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            raise BadInput("<argument>", "rate_kb_s", "must be > 0")
        return {"rate": rate}


class Blackhole(ToxicFault):
    """Stop all data on the selected links (toxiproxy ``timeout``), as in a network partition."""

    name = "blackhole"
    toxic = "chaosdrill-blackhole"
    toxic_type = "timeout"
    activities = {"actions.network.add_blackhole": "inject", "actions.network.remove_blackhole": "remove"}

    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        _non_negative(args, "timeout_ms")
        return {"timeout": args.get("timeout_ms", 0)}


class ResetPeer(ToxicFault):
    """Reset connections on the selected links (TCP RST) after ``timeout_ms``."""

    name = "reset_peer"
    toxic = "chaosdrill-reset"
    toxic_type = "reset_peer"
    activities = {"actions.network.add_reset_peer": "inject", "actions.network.remove_reset_peer": "remove"}

    def attributes(self, args: Mapping[str, Any]) -> dict[str, Any]:
        _non_negative(args, "timeout_ms")
        return {"timeout": args.get("timeout_ms", 0)}


class LinkCut(FaultKind):
    """Disable the selected proxies: new connections are refused, open ones closed."""

    name = "link_cut"
    targets = (Target.SANDBOX, Target.SYSTEM)
    activities = {"actions.network.disable_links": "inject", "actions.network.enable_links": "remove"}

    @staticmethod
    def _selection(args: Mapping[str, Any]) -> tuple[str, str, str]:
        return str(args.get("dc", "*")), str(args.get("az", "*")), str(args.get("link", "redis"))

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        dc, az, link = self._selection(args)
        return f"disable:{dc}/{az}/{link}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        dc, az, link = self._selection(args)
        source = link_source(env)
        chosen = source.select_links(dc, az, link)
        proxies = [lk.proxy for lk in chosen]
        cut = [
            p
            for api, names in toxic_servers(chosen).items()
            for p, px in source.toxiproxy(api).proxies().items()
            if p in names and not px.enabled
        ]
        if cut:
            # Its undo would re-enable what another fault (or a person) cut: refuse, touch nothing.
            raise ActivityFailed(
                f"proxies {cut} are already disabled; enable them before cutting {dc}/{az}/{link}"
            )
        return Plan(
            key=self.key(env, args),
            description=f"disable {len(proxies)} proxies of {dc}/{az}/{link}",
            undo=links_undo(source, chosen),
            touches=tuple(f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): disable" for lk in chosen),
            details={"proxies": proxies},
            dc_selector=dc,
            dcs=tuple(d for d in source.dcs if fnmatch.fnmatchcase(d, dc)),
            work={"source": source, "chosen": chosen},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        source: LinkSource = plan.work["source"]
        servers = cast(LinksUndo, plan.undo)["servers"]
        still = []
        for api, proxies in servers.items():
            client = source.toxiproxy(api)
            for p in proxies:
                client.update_proxy(p, enabled=False)
            still += [name for name, px in client.proxies().items() if name in proxies and px.enabled]
        if still:
            raise FaultNotApplied(f"proxies {still} still enabled after injection")
        return {"disabled": plan.undo["proxies"]}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        for client, proxies in undo_clients(drivers, undo):
            for proxy in proxies:
                try:
                    client.update_proxy(proxy, enabled=True)
                except ToxiproxyError:
                    continue  # the proxy no longer exists: nothing is cut off

    def plan_remove(self, env: Env, args: Mapping[str, Any]) -> Plan:
        chosen = link_source(env).select_links(*self._selection(args))
        return Plan(
            key=self.key(env, args),
            description="re-enable links",
            undo={},
            touches=tuple(f"toxiproxy {lk.proxy} ({lk.dc}/{lk.az}/{lk.link}): enable" for lk in chosen),
            details={"proxies": [lk.proxy for lk in chosen]},
        )

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        source = link_source(env)
        chosen = source.select_links(*self._selection(args))
        for lk in chosen:
            source.toxiproxy(lk.api).update_proxy(lk.proxy, enabled=True)
        return {"enabled": [lk.proxy for lk in chosen]}


KINDS = (Latency(), Bandwidth(), Blackhole(), ResetPeer(), LinkCut())
