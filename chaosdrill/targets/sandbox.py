"""The sandbox driver: resolves dc/az/link names through the state file and applies faults.

Every fault is recorded in the ledger before it lands (``chaosdrill.targets.inject``)
and is verified after: a toxic must be listed on every selected proxy, killed replicas
must really be gone. A fault carries the sandbox *instance* it was applied to; reverting
a fault whose instance no longer runs is a no-op, because the processes and proxies
that held it went away with that instance.
"""

import contextlib
import fnmatch
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from chaosdrill.activity import how_many
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.ledger import Fault
from chaosdrill.procs import alive
from chaosdrill.sandbox.lifecycle import require_state
from chaosdrill.sandbox.state import read_state
from chaosdrill.targets import checked_ttl, inject, rollback

__all__ = [
    "KillPlan",
    "Link",
    "Replica",
    "add_toxic",
    "admin_get",
    "dc_outage",
    "dc_outage_rollback",
    "gateway_url",
    "kill_replicas",
    "links",
    "parse_selector",
    "plan_kill",
    "remove_toxic",
    "replicas",
    "revert",
    "select_links",
    "set_defences",
    "set_links_enabled",
    "unset_defences",
    "zone_outage",
    "zone_outage_rollback",
    "zone_pool",
]

DRIVER = "sandbox"
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Link:
    dc: str
    az: str
    link: str  # "replicas" or "redis"
    proxy: str
    listen: str
    has_replica: bool


@dataclass(frozen=True)
class Replica:
    name: str
    pid: int
    port: int
    labels: Mapping[str, str]


def links(state: Mapping[str, Any]) -> list[Link]:
    out = []
    for dc, info in state["dcs"].items():
        redis = info.get("redis") or {}
        if redis.get("proxy"):
            out.append(Link(dc, "*", "redis", redis["proxy"], redis["listen"], False))
        for az, pool in info["azs"].items():
            for slot in pool["slots"]:
                out.append(Link(dc, az, "replicas", slot["proxy"], slot["listen"], bool(slot.get("replica"))))
    return out


def select_links(state: Mapping[str, Any], dc: str, az: str, link: str) -> list[Link]:
    """Links whose dc, az and link names match the glob patterns; ActivityFailed if none."""
    every = links(state)
    chosen = [
        lk
        for lk in every
        if fnmatch.fnmatchcase(lk.dc, dc)
        and (lk.az == "*" or fnmatch.fnmatchcase(lk.az, az))
        and fnmatch.fnmatchcase(lk.link, link)
    ]
    if not chosen:
        known = sorted({f"{lk.dc}/{lk.az}/{lk.link}" for lk in every})
        raise ActivityFailed(
            f"no sandbox link matches dc={dc!r} az={az!r} link={link!r}; known links: {', '.join(known)}"
        )
    return chosen


def _fault(
    state: Mapping[str, Any],
    kind: str,
    key: str,
    description: str,
    op: str,
    ttl_s: float | None = None,
    **revert_args: Any,
) -> Fault:
    """A sandbox fault; its revert carries the sandbox instance it was applied to."""
    revert = {"op": op, "instance": state["instance"], **revert_args}
    return Fault(
        driver=DRIVER, kind=kind, key=key, description=description, revert=revert, ttl_s=checked_ttl(ttl_s)
    )


def _toxic_key(toxic: str, dc: str, az: str, link: str) -> str:
    return f"toxic:{toxic}:{dc}/{az}/{link}"


def add_toxic(
    dc: str,
    az: str,
    link: str,
    toxic: str,
    kind: str,
    attributes: dict[str, Any],
    stream: str = "downstream",
    ttl_s: float | None = None,
) -> dict[str, Any]:
    """Add one named toxic to every selected proxy, through the ledger, then verify it."""
    state = require_state()
    chosen = select_links(state, dc, az, link)
    api = state["toxiproxy"]["api"]
    client = ToxiproxyClient(api)
    proxies = [lk.proxy for lk in chosen]
    fault = _fault(
        state,
        kind,
        _toxic_key(toxic, dc, az, link),
        f"{kind} {attributes} on {len(proxies)} proxies of {dc}/{az}/{link}",
        "remove_toxic",
        ttl_s,
        api=api,
        proxies=proxies,
        toxic=toxic,
    )

    def apply() -> None:
        for proxy in proxies:
            client.add_toxic(proxy, toxic, kind, attributes, stream)
        missing = [p for p in proxies if not any(t.get("name") == toxic for t in client.toxics(p))]
        if missing:
            raise FaultNotApplied(f"toxic {toxic} not present on {missing} after injection")
        if kind == "latency":
            _observe_latency(chosen, attributes)

    inject(fault, apply)
    return {"fault_id": fault.id, "proxies": proxies, "toxic": toxic, "attributes": attributes}


def _observe_latency(chosen: list[Link], attributes: Mapping[str, Any]) -> None:
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
        t0 = time.perf_counter()
        try:
            requests.get(f"http://{lk.listen}/healthz", timeout=expected_s + HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            last_error = f"{lk.proxy}: {e}"
            continue
        took = time.perf_counter() - t0
        if took < 0.8 * expected_s:
            raise FaultNotApplied(
                f"latency not observed: GET /healthz through {lk.proxy} took {took * 1000:.0f} ms, "
                f"expected at least {0.8 * expected_s * 1000:.0f} ms (0.8 x {expected_s * 1000:.0f} ms)"
            )
        return
    raise FaultNotApplied(f"latency could not be observed through any selected replica link ({last_error})")


def remove_toxic(dc: str, az: str, link: str, toxic: str) -> dict[str, Any]:
    """Remove the toxic from the selected proxies (idempotent) and close its ledger entries."""
    state = require_state()
    chosen = select_links(state, dc, az, link)
    client = ToxiproxyClient(state["toxiproxy"]["api"])
    for lk in chosen:
        client.remove_toxic(lk.proxy, toxic)
    closed = rollback(DRIVER, _toxic_key(toxic, dc, az, link))
    return {"removed_from": [lk.proxy for lk in chosen], "ledger_entries_closed": closed}


def set_links_enabled(
    dc: str, az: str, link: str, enabled: bool, ttl_s: float | None = None
) -> dict[str, Any]:
    """Disable (cut) or re-enable the selected links."""
    state = require_state()
    chosen = select_links(state, dc, az, link)
    api = state["toxiproxy"]["api"]
    client = ToxiproxyClient(api)
    proxies = [lk.proxy for lk in chosen]
    key = f"disable:{dc}/{az}/{link}"
    if enabled:
        for p in proxies:
            client.update_proxy(p, enabled=True)
        return {"enabled": proxies, "ledger_entries_closed": rollback(DRIVER, key)}
    fault = _fault(
        state,
        "disable",
        key,
        f"disable {len(proxies)} proxies of {dc}/{az}/{link}",
        "enable_proxies",
        ttl_s,
        api=api,
        proxies=proxies,
    )

    def apply() -> None:
        for p in proxies:
            client.update_proxy(p, enabled=False)
        still = [name for name, px in client.proxies().items() if name in proxies and px.enabled]
        if still:
            raise FaultNotApplied(f"proxies {still} still enabled after injection")

    inject(fault, apply)
    return {"fault_id": fault.id, "disabled": proxies}


def parse_selector(selector: str, source: str = "<argument>") -> dict[str, str]:
    """A Kubernetes-style equality selector, ``dc=dc1,az=az-a`` (empty selects all)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise BadInput(source, "selector", f"{part!r} is not key=value (e.g. dc=dc1,az=az-a)")
        out[key.strip()] = value.strip()
    return out


def replicas(state: Mapping[str, Any], selector: Mapping[str, str]) -> list[Replica]:
    found = []
    for info in state["dcs"].values():
        for pool in info["azs"].values():
            for slot in pool["slots"]:
                rep = slot.get("replica")
                if rep and all(fnmatch.fnmatchcase(rep["labels"].get(k, ""), v) for k, v in selector.items()):
                    found.append(Replica(rep["name"], int(rep["pid"]), int(rep["port"]), rep["labels"]))
    return found


@dataclass(frozen=True)
class KillPlan:
    """Which replicas a kill would hit: the first ``n`` matching replicas by name."""

    selector: str
    matched: tuple[Replica, ...]
    victims: tuple[Replica, ...]


def plan_kill(
    state: Mapping[str, Any],
    selector: str,
    count: int | None,
    percentage: float | None,
    max_percentage: float,
) -> KillPlan:
    """The replicas ``kill_replicas`` would kill, touching nothing (shared with preflight)."""
    matched = replicas(state, parse_selector(selector))
    if not matched:
        raise ActivityFailed(f"selector {selector!r} matches no sandbox replica")
    n = how_many(len(matched), count, percentage, max_percentage)
    return KillPlan(selector, tuple(matched), tuple(sorted(matched, key=lambda r: r.name)[:n]))


def kill_replicas(
    selector: str, count: int | None, percentage: float | None, max_percentage: float = 100.0
) -> dict[str, Any]:
    """SIGKILL replica processes; the supervisor (a ReplicaSet) brings replacements up."""
    state = require_state()
    plan = plan_kill(state, selector, count, percentage, max_percentage)
    matched, victims, n = plan.matched, plan.victims, len(plan.victims)
    fault = _fault(
        state,
        "kill",
        f"kill:{selector}",
        f"SIGKILL {n} of {len(matched)} replicas matching {selector!r}",
        "none",
    )

    def apply() -> None:
        for r in victims:
            with contextlib.suppress(ProcessLookupError):  # already dead is fine
                os.kill(r.pid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        survivors = [r.name for r in victims if alive(r.pid)]
        while survivors and time.monotonic() < deadline:
            time.sleep(0.02)
            survivors = [r.name for r in victims if alive(r.pid)]
        if survivors:
            raise FaultNotApplied(f"replicas {survivors} survived SIGKILL")

    inject(fault, apply)
    # A kill needs no undo: the supervisor restores the replica count on its own.
    rollback(DRIVER, fault.key)
    return {"killed": [r.name for r in victims], "matched": len(matched), "at": time.time()}


def gateway_url(state: Mapping[str, Any], dc: str) -> str:
    """The URL of ``dc``'s running gateway; ActivityFailed for an unknown or stopped DC."""
    info = state["dcs"].get(dc)
    if info is None:
        raise ActivityFailed(f"unknown data center {dc!r}; the sandbox has {', '.join(state['dcs'])}")
    gw = info.get("gateway")
    if not gw:
        raise ActivityFailed(f"the gateway of {dc} is not running")
    return str(gw["url"])


def _post(url: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST JSON to a sandbox component's admin API; anything but a 200 is ActivityFailed."""
    try:
        resp = requests.post(url, json=dict(body), timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as e:
        raise ActivityFailed(f"{url} did not answer: {e}") from e
    if resp.status_code != 200:
        raise ActivityFailed(f"{url} refused {dict(body)}: HTTP {resp.status_code}: {resp.text}")
    out: dict[str, Any] = resp.json()
    return out


def _post_defences(url: str, changes: Mapping[str, bool]) -> dict[str, Any]:
    return _post(f"{url}/admin/defences", changes)


def set_defences(dc: str, changes: Mapping[str, bool], ttl_s: float | None = None) -> dict[str, Any]:
    """Switch gateway defences (breaker, fallback, rate_limit) — a fault when turning them off."""
    state = require_state()
    url = gateway_url(state, dc)
    current = admin_get(url, "/admin/state")["defences"]
    unknown = sorted(set(changes) - set(current))
    if unknown:
        raise BadInput("<argument>", unknown[0], f"not a gateway defence (known: {', '.join(current)})")
    previous = {k: bool(current[k]) for k in changes}
    fault = _fault(
        state,
        "defences",
        f"defences:{dc}",
        f"set defences {dict(changes)} on the {dc} gateway",
        "set_defences",
        ttl_s,
        url=url,
        defences=previous,
    )

    def apply() -> None:
        now = _post_defences(url, changes)["defences"]
        if any(now[k] != v for k, v in changes.items()):
            raise FaultNotApplied(f"gateway {dc} reports defences {now}, wanted {dict(changes)}")

    inject(fault, apply)
    return {"fault_id": fault.id, "dc": dc, "previous": previous, "now": dict(changes)}


def unset_defences(dc: str) -> dict[str, Any]:
    """Restore the defences that ``set_defences`` changed on ``dc``."""
    return {"dc": dc, "ledger_entries_closed": rollback(DRIVER, f"defences:{dc}")}


def _supervisor_post(api: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return _post(f"{api}{path}", body)


def _wait_for(check: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def zone_pool(state: Mapping[str, Any], zone: str) -> tuple[str, str]:
    """``dc1-az-a`` (the Kubernetes zone name) -> (``dc1``, ``az-a``)."""
    for dc, info in state["dcs"].items():
        for az in info["azs"]:
            if f"{dc}-{az}" == zone:
                return dc, str(az)
    known = sorted(f"{dc}-{az}" for dc, info in state["dcs"].items() for az in info["azs"])
    raise ActivityFailed(f"unknown zone {zone!r}; the sandbox has {', '.join(known)}")


def _live_replicas(dc: str, az: str) -> int:
    pool = require_state()["dcs"][dc]["azs"][az]
    return sum(1 for s in pool["slots"] if s.get("replica"))


def zone_outage(zone: str, ttl_s: float | None = None) -> dict[str, Any]:
    """Stop every replica of an AZ pool and keep it at zero (the supervisor holds it)."""
    state = require_state()
    dc, az = zone_pool(state, zone)
    api = state["supervisor"]["api"]
    fault = _fault(
        state,
        "zone_outage",
        f"zone_outage:{zone}",
        f"stop every replica of {dc}/{az} and hold the pool at zero",
        "release_hold",
        ttl_s,
        api=api,
        dc=dc,
        az=az,
    )

    def apply() -> None:
        _supervisor_post(api, "/hold", {"dc": dc, "az": az, "held": True})
        if not _wait_for(lambda: _live_replicas(dc, az) == 0, 10.0):
            raise FaultNotApplied(f"{dc}/{az} still has {_live_replicas(dc, az)} replicas after the outage")

    started = time.monotonic()
    inject(fault, apply)
    return {
        "fault_id": fault.id,
        "zone": zone,
        "pool": f"{dc}/{az}",
        "down_after_s": time.monotonic() - started,
    }


def zone_outage_rollback(zone: str) -> dict[str, Any]:
    """Release the AZ pool; the supervisor starts its replicas again."""
    return {"zone": zone, "ledger_entries_closed": rollback(DRIVER, f"zone_outage:{zone}")}


def dc_outage(dc: str, ttl_s: float | None = None) -> dict[str, Any]:
    """Stop a DC's gateway: its cells lose their DC and the edge must fail them over."""
    state = require_state()
    gateway_url(state, dc)  # unknown or already-down DC: ActivityFailed, nothing recorded
    api = state["supervisor"]["api"]
    fault = _fault(
        state,
        "dc_outage",
        f"dc_outage:{dc}",
        f"stop the {dc} gateway (its cells must fail over)",
        "start_gateway",
        ttl_s,
        api=api,
        dc=dc,
    )

    def apply() -> None:
        _supervisor_post(api, "/gateway", {"dc": dc, "running": False})
        if not _wait_for(lambda: not require_state()["dcs"][dc].get("gateway"), 5.0):
            raise FaultNotApplied(f"the {dc} gateway is still running")

    inject(fault, apply)
    return {"fault_id": fault.id, "dc": dc, "at": fault.at}


def dc_outage_rollback(dc: str) -> dict[str, Any]:
    """Start the DC's gateway again; the edge fails its cells back once it is healthy."""
    return {"dc": dc, "ledger_entries_closed": rollback(DRIVER, f"dc_outage:{dc}")}


def admin_get(url: str, path: str) -> dict[str, Any]:
    try:
        resp = requests.get(f"{url}{path}", timeout=HTTP_TIMEOUT_S)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body
    except requests.RequestException as e:
        raise ActivityFailed(f"cannot read {url}{path}: {e}") from e


def _same_instance(args: Mapping[str, Any]) -> bool:
    from chaosdrill import paths

    state = read_state(paths.sandbox_state_file())
    return bool(
        state and state.get("instance") == args.get("instance") and alive(int(state["supervisor"]["pid"]))
    )


def revert(args: dict[str, Any]) -> None:
    """Undo a sandbox fault from its ledger args; a no-op once its sandbox instance is gone."""
    if args.get("op") == "none" or not _same_instance(args):
        return
    op = args["op"]
    if op == "remove_toxic":
        client = ToxiproxyClient(args["api"])
        for proxy in args["proxies"]:
            client.remove_toxic(proxy, args["toxic"])
    elif op == "enable_proxies":
        client = ToxiproxyClient(args["api"])
        for proxy in args["proxies"]:
            client.update_proxy(proxy, enabled=True)
    elif op == "set_defences":
        _post_defences(args["url"], args["defences"])
    elif op == "release_hold":
        _supervisor_post(args["api"], "/hold", {"dc": args["dc"], "az": args["az"], "held": False})
    elif op == "start_gateway":
        _supervisor_post(args["api"], "/gateway", {"dc": args["dc"], "running": True})
    else:
        raise ValueError(f"unknown sandbox revert op {op!r}")
