"""An in-memory sandbox behind the real ``SandboxDriver`` and ``ToxiproxyClient``.

In the style of httpx's ``MockTransport``: a ``requests`` transport adapter takes the place
of the network and nothing else, so the fault kinds, the driver and the toxiproxy client
run their own code, and only HTTP and signals are faked. One :class:`FakeSandbox` plays
every server the kinds talk to:

- toxiproxy at ``http://toxiproxy.fake``: ``GET /proxies``, ``POST /proxies/{p}``, and
  ``GET``/``POST /proxies/{p}/toxics`` and ``DELETE /proxies/{p}/toxics/{name}`` with the
  real server's codes (404 for an unknown proxy or toxic, 409 for a toxic name already
  there, 204 with no body for a delete);
- each DC's gateway at ``http://gw-<dc>.fake``: ``GET /admin/state``, ``POST /admin/defences``;
- the autoscaler at ``http://autoscaler.fake``: ``GET /admin/state``, ``POST /admin/paused``;
- the edge at ``http://edge.fake``: ``GET``/``POST /admin/health-checks``;
- the supervisor at ``http://supervisor.fake``: ``POST /hold`` (a held pool's replicas
  leave the state), ``POST /gateway`` (a stopped gateway's ``gateway`` becomes null),
  ``POST /dc`` (a whole DC out and back), ``GET /sessions`` and ``POST /sessions/promote``
  (each DC's session state: a primary at home, a replica in the next DC);
- the edge at ``http://edge.fake``: ``GET /admin/state`` (a DC out is unhealthy) and
  ``POST /admin/away``;
- every replica link's listen address: ``GET /healthz`` through the proxy, which feels the
  proxy's toxics (latency sleeps, a blackhole times out, a reset or a disabled proxy refuses).

The state document has the supervisor's shape (``chaosdrill.sandbox.supervisor.snapshot``)
and is re-read as a fresh copy each time, as the state file is. Signals go to a process
table: a killed replica is dead, and the supervisor respawns it under a new pid.

Knobs make a server accept a change and not do it, for the verification tests:
``ignore_toxics``, ``ignore_proxy_updates``, ``defences_ignore``, ``hold_ignored``,
``gateway_ignored``, ``switches_ignored`` (autoscaler pause, edge health checks),
``dc_ignored``, ``unkillable`` and ``latency_felt_ms``; and fail one:
``promote_fails`` (that many promotions answer 409), ``out_of_sync`` (DCs whose state's replica
reports its link down) and ``lag_bytes``.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter

from chaosdrill.drivers.sandbox import SandboxDriver
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import BadInput, NotRunning

__all__ = [
    "AUTOSCALER_URL",
    "EDGE_URL",
    "SUPERVISOR_API",
    "TOXIPROXY_API",
    "Call",
    "FakeClock",
    "FakeDrivers",
    "FakeLoad",
    "FakeSandbox",
    "FakeSandboxAdapter",
]

TOXIPROXY_API = "http://toxiproxy.fake"
SUPERVISOR_API = "http://supervisor.fake"
AUTOSCALER_URL = "http://autoscaler.fake"
EDGE_URL = "http://edge.fake"
TOXIC_TYPES = frozenset(
    {"latency", "bandwidth", "timeout", "reset_peer", "slow_close", "slicer", "limit_data"}
)
DEFENCES = ("breaker", "fallback", "rate_limit")

Json = Any
Slot = tuple[str, str, int]  # (dc, az, index)


@dataclass(frozen=True)
class Call:
    """One request the fake answered (or refused to connect)."""

    method: str
    url: str
    body: Json

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)


def gateway_host(dc: str) -> str:
    return f"gw-{dc}.fake"


class FakeSandbox:
    """A sandbox instance's state, servers and process table, all in memory."""

    def __init__(
        self,
        *,
        dcs: Iterable[str] = ("dc1", "dc2"),
        azs: Iterable[str] = ("az-a", "az-b"),
        slots: int = 2,
        empty_slots: Iterable[Slot] = (("dc1", "az-b", 1),),
        defences: Iterable[str] = DEFENCES,
        instance: str = "fake-instance-1",
        ignore_toxics: bool = False,
        ignore_proxy_updates: bool = False,
        defences_ignore: bool = False,
        hold_ignored: bool = False,
        gateway_ignored: bool = False,
        switches_ignored: bool = False,
        unkillable: Iterable[int] = (),
        latency_felt_ms: float | None = None,
        respawn: bool = True,
        dc_ignored: bool = False,
        promote_fails: int = 0,
        out_of_sync: Iterable[str] = (),
        lag_bytes: int = 0,
    ) -> None:
        self.dc_ignored = dc_ignored
        self.promote_fails = promote_fails
        self.out_of_sync = set(out_of_sync)
        self.lag_bytes = lag_bytes
        self.away: dict[str, bool] = {}  # the edge's holds
        self.stale_route_reads = 0  # gateway state reads that still report an old routing table
        self.ignore_toxics = ignore_toxics
        self.ignore_proxy_updates = ignore_proxy_updates
        self.defences_ignore = defences_ignore
        self.hold_ignored = hold_ignored
        self.gateway_ignored = gateway_ignored
        self.switches_ignored = switches_ignored
        self.paused: set[str] = set()  # DCs the autoscaler leaves alone
        self.unchecked: set[str] = set()  # DCs the edge no longer health-checks
        self.unkillable = set(unkillable)
        self.latency_felt_ms = latency_felt_ms
        self.respawn = respawn
        self.gone = False  # the instance has stopped: no driver reaches it any more

        self.calls: list[Call] = []
        self.health_checks: list[tuple[str, float | None]] = []  # (url, timeout) of each /healthz
        self.kills: list[tuple[int, int]] = []  # (pid, signal) of each signal delivered
        self.processes: dict[int, bool] = {}  # pid -> alive
        self.proxies: dict[str, dict[str, Json]] = {}  # toxiproxy's own records
        self.defences: dict[str, dict[str, bool]] = {}  # dc -> the gateway's switches
        self._held_slots: dict[str, list[int]] = {}  # "dc/az" -> slots emptied by a hold
        self._next_pid = 40_000
        self._next_port = 21_000
        self.state = self._build(list(dcs), list(azs), slots, set(empty_slots), tuple(defences), instance)

    # ------------------------------------------------------------------ building

    def _spawn(self) -> int:
        self._next_pid += 1
        self.processes[self._next_pid] = True
        return self._next_pid

    def _port(self) -> int:
        self._next_port += 1
        return self._next_port

    def _add_proxy(self, name: str, upstream_port: int) -> str:
        listen = f"127.0.0.1:{self._port()}"
        self.proxies[name] = {
            "name": name,
            "listen": listen,
            "upstream": f"127.0.0.1:{upstream_port}",
            "enabled": True,
            "toxics": [],
        }
        return listen

    def _replica(self, dc: str, az: str, index: int) -> dict[str, Json]:
        return {
            "name": f"{dc}-{az}-replica-{index}",
            "pid": self._spawn(),
            "port": self._port(),
            "started_at": 1_700_000_000.0,
            "labels": {"dc": dc, "az": az, "pool": f"{dc}/{az}", "component": "replica"},
        }

    def _gateway(self, dc: str) -> dict[str, Json]:
        return {"url": f"http://{gateway_host(dc)}", "pid": self._spawn(), "port": 80}

    def _build(
        self,
        dcs: list[str],
        azs: list[str],
        slots: int,
        empty: set[Slot],
        defences: tuple[str, ...],
        instance: str,
    ) -> dict[str, Json]:
        doc: dict[str, Json] = {
            "instance": instance,
            "ready": True,
            "supervisor": {"pid": self._spawn(), "api": SUPERVISOR_API},
            "toxiproxy": {"api": TOXIPROXY_API, "pid": self._spawn()},
            "edge": {"url": EDGE_URL, "pid": self._spawn()},
            "autoscaler": {"url": AUTOSCALER_URL, "pid": self._spawn()},
            "dcs": {},
        }
        for dc in dcs:
            redis_port = self._port()
            redis_listen = self._add_proxy(f"{dc}-redis", redis_port)
            info: dict[str, Json] = {
                "gateway": self._gateway(dc),
                "redis": {"port": redis_port, "proxy": f"{dc}-redis", "listen": redis_listen},
                "azs": {},
            }
            for az in azs:
                pool_slots = []
                for i in range(slots):
                    proxy = f"{dc}-{az}-replicas-{i}"
                    replica = None if (dc, az, i) in empty else self._replica(dc, az, i)
                    upstream = replica["port"] if replica else 9  # parked: nothing listens
                    listen = self._add_proxy(proxy, upstream)
                    pool_slots.append({"index": i, "proxy": proxy, "listen": listen, "replica": replica})
                desired = sum(1 for s in pool_slots if s["replica"])
                info["azs"][az] = {"desired": desired, "held": False, "slots": pool_slots}
            doc["dcs"][dc] = info
            self.defences[dc] = dict.fromkeys(defences, True)
        doc["edge"] = {"url": EDGE_URL, "pid": self._spawn()}
        doc["down_dcs"] = []
        doc["sessions"] = {}
        for i, owner in enumerate(dcs):
            hosts = [owner] + ([dcs[(i + 1) % len(dcs)]] if len(dcs) > 1 else [])
            members = {}
            for host in hosts:
                port = self._port()
                listen = self._add_proxy(f"{host}-sessions-{owner}", port)
                members[host] = {
                    "proxy": f"{host}-sessions-{owner}",
                    "listen": listen,
                    "port": port,
                    "pid": self._spawn(),
                }
            repl_listen = self._add_proxy(f"redis-repl-{owner}", members[owner]["port"])
            doc["sessions"][owner] = {
                "primary": owner,
                "address": members[owner]["listen"],
                "repl": {"proxy": f"redis-repl-{owner}", "listen": repl_listen},
                "members": members,
                "history": [],
            }
        return doc

    # ------------------------------------------------------------------ what tests read

    @property
    def instance(self) -> str:
        return str(self.state["instance"])

    def replace_instance(self, instance: str) -> None:
        """A new sandbox instance took this one's place (same layout, new id)."""
        self.state["instance"] = instance

    def snapshot(self) -> dict[str, Json] | None:
        """The state as its file holds it now: a copy, or None once the instance is gone."""
        return None if self.gone else copy.deepcopy(self.state)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http://", FakeSandboxAdapter(self))
        return session

    @property
    def writes(self) -> list[Call]:
        """Every request that could change something (all but GETs)."""
        return [c for c in self.calls if c.method != "GET"]

    def toxics(self, proxy: str) -> list[dict[str, Json]]:
        return copy.deepcopy(self.proxies[proxy]["toxics"])

    def toxic_names(self, proxy: str) -> list[str]:
        return [str(t["name"]) for t in self.proxies[proxy]["toxics"]]

    def poisoned(self) -> dict[str, list[str]]:
        """Proxy -> its toxics' names, for every proxy that has any."""
        return {name: self.toxic_names(name) for name, p in self.proxies.items() if p["toxics"]}

    def enabled(self, proxy: str) -> bool:
        return bool(self.proxies[proxy]["enabled"])

    def replica_proxies(self, dc: str = "*", az: str = "*") -> list[str]:
        return [
            slot["proxy"]
            for d, info in self.state["dcs"].items()
            if fnmatch.fnmatchcase(d, dc)
            for a, pool in info["azs"].items()
            if fnmatch.fnmatchcase(a, az)
            for slot in pool["slots"]
        ]

    def replicas(self, dc: str, az: str) -> list[dict[str, Json]]:
        return [s["replica"] for s in self.state["dcs"][dc]["azs"][az]["slots"] if s["replica"]]

    def pool(self, dc: str, az: str) -> dict[str, Json]:
        pool: dict[str, Json] = self.state["dcs"][dc]["azs"][az]
        return pool

    def gateway_running(self, dc: str) -> bool:
        return self.state["dcs"][dc]["gateway"] is not None

    def primary(self, owner: str) -> str:
        return str(self.state["sessions"][owner]["primary"])

    def dc_pids(self, dc: str) -> list[int]:
        """The pids of ``dc``'s gateway, replicas and the session members it hosts."""
        info = self.state["dcs"][dc]
        pids = [int(info["gateway"]["pid"])] if info["gateway"] else []
        pids += [int(s["replica"]["pid"]) for p in info["azs"].values() for s in p["slots"] if s["replica"]]
        pids += [
            int(m["pid"])
            for st in self.state["sessions"].values()
            for h, m in st["members"].items()
            if h == dc and m["pid"]
        ]
        return pids

    # ------------------------------------------------------------------ session state

    def replication(self) -> dict[str, Json]:
        """As the supervisor's ``GET /sessions``."""
        out = {}
        for owner, store in self.state["sessions"].items():
            primary = store["primary"]
            replica = next((h for h in store["members"] if h != primary), None)
            members = {
                h: {
                    "role": "down" if m["pid"] is None else ("primary" if h == primary else "replica"),
                    "link": None
                    if h == primary or m["pid"] is None
                    else ("down" if owner in self.out_of_sync else "up"),
                    "pid": m["pid"],
                }
                for h, m in store["members"].items()
            }
            alive = (
                replica is not None
                and members[replica]["role"] == "replica"
                and members[primary]["role"] == "primary"
            )
            out[owner] = {
                "primary": primary,
                "replica": replica,
                "members": members,
                "in_sync": alive and owner not in self.out_of_sync,
                "lag_bytes": self.lag_bytes if alive else None,
                "lag_s": 0.0 if alive else None,
                "history": list(store["history"]),
            }
        return out

    def promote(self, owner: str, to: str | None, reason: str) -> dict[str, Json]:
        store = self.state["sessions"][owner]
        to = to or next(h for h in store["members"] if h != store["primary"])
        if to == store["primary"]:
            return {"owner": owner, "primary": to, "changed": False}
        event = {
            "owner": owner,
            "from": store["primary"],
            "to": to,
            "reason": reason,
            "planned": store["members"][store["primary"]]["pid"] is not None,
        }
        store["primary"] = to
        store["address"] = store["members"][to]["listen"]
        store["history"].append(event)
        return {"owner": owner, "primary": to, "changed": True, "event": event}

    def lose_dc(self, dc: str) -> list[int]:
        """A whole DC out: its gateway, replicas and session members die."""
        killed = self.dc_pids(dc)
        for pid in killed:
            self.processes[pid] = False
        info = self.state["dcs"][dc]
        info["gateway"] = None
        for pool in info["azs"].values():
            for slot in pool["slots"]:
                slot["replica"] = None
        for store in self.state["sessions"].values():
            if dc in store["members"]:
                store["members"][dc]["pid"] = None
        self.state["down_dcs"] = [dc]
        return killed

    def restore_dc(self, dc: str) -> None:
        """The DC back, as the supervisor brings it: a state still primary there is promoted
        elsewhere first, then its members rejoin as replicas."""
        for owner, store in self.state["sessions"].items():
            if dc not in store["members"]:
                continue
            if store["primary"] == dc:
                self.promote(owner, None, "restart")
            store["members"][dc]["pid"] = self._spawn()
        info = self.state["dcs"][dc]
        info["gateway"] = self._gateway(dc)
        for az, pool in info["azs"].items():
            for slot in pool["slots"][: pool["desired"]]:
                slot["replica"] = self._replica(dc, az, int(slot["index"]))
        self.state["down_dcs"] = []

    # ------------------------------------------------------------------ signals

    def alive(self, pid: int) -> bool:
        return self.processes.get(pid, False)

    def kill(self, pid: int, sig: int) -> None:
        """``os.kill`` on the process table; the supervisor respawns a killed replica."""
        if not self.alive(pid):
            raise ProcessLookupError(pid)
        self.kills.append((pid, int(sig)))
        if sig == 0 or pid in self.unkillable:
            return
        self.processes[pid] = False
        if not self.respawn:
            return
        for dc, info in self.state["dcs"].items():
            for az, pool in info["azs"].items():
                for slot in pool["slots"]:
                    if slot["replica"] and slot["replica"]["pid"] == pid and not pool["held"]:
                        slot["replica"] = self._replica(dc, az, int(slot["index"]))

    # ------------------------------------------------------------------ the supervisor's side

    def hold(self, dc: str, az: str, held: bool) -> bool:
        """Hold the pool at zero (its replicas stop) or release it (they come back); the previous value."""
        pool = self.pool(dc, az)
        previous = bool(pool["held"])
        pool["held"] = held
        key = f"{dc}/{az}"
        if held and not previous:
            emptied = []
            for slot in pool["slots"]:
                if slot["replica"]:
                    self.processes[int(slot["replica"]["pid"])] = False
                    slot["replica"] = None
                    emptied.append(int(slot["index"]))
            self._held_slots[key] = emptied
        elif not held and previous:
            emptied = self._held_slots.pop(key, [])
            for slot in pool["slots"]:
                if int(slot["index"]) in emptied:
                    slot["replica"] = self._replica(dc, az, int(slot["index"]))
        return previous

    def run_gateway(self, dc: str, running: bool) -> bool:
        """Stop or start a DC's gateway (same URL when it comes back); the previous value."""
        info = self.state["dcs"][dc]
        previous = info["gateway"] is not None
        if not running and previous:
            self.processes[int(info["gateway"]["pid"])] = False
            info["gateway"] = None
        elif running and not previous:
            info["gateway"] = self._gateway(dc)
        return previous


# ---------------------------------------------------------------------- the transport


class _Refused(Exception):
    """A handler's way of saying the connection itself failed."""

    def __init__(self, error: type[requests.RequestException], message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Json = None
    text: str | None = None


Handler = Callable[[re.Match[str], Json, "float | None"], _Answer]


class FakeSandboxAdapter(BaseAdapter):
    """A ``requests`` transport that answers as the sandbox's servers would."""

    def __init__(self, fake: FakeSandbox) -> None:
        super().__init__()
        self.fake = fake
        self._toxiproxy: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/proxies"), self._list_proxies),
            ("POST", re.compile(r"/proxies/([^/]+)"), self._update_proxy),
            ("GET", re.compile(r"/proxies/([^/]+)/toxics"), self._list_toxics),
            ("POST", re.compile(r"/proxies/([^/]+)/toxics"), self._add_toxic),
            ("DELETE", re.compile(r"/proxies/([^/]+)/toxics/([^/]+)"), self._delete_toxic),
        ]
        self._supervisor: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"/hold"), self._hold),
            ("POST", re.compile(r"/gateway"), self._gateway),
            ("POST", re.compile(r"/dc"), self._dc),
            ("GET", re.compile(r"/sessions"), self._sessions),
            ("POST", re.compile(r"/sessions/promote"), self._promote),
        ]

    # requests calls it with these keywords; only the timeout matters here
    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        method, url = str(request.method), str(request.url)
        raw = request.body
        if isinstance(raw, str):
            raw = raw.encode()
        body = json.loads(raw) if isinstance(raw, bytes) and raw else None
        self.fake.calls.append(Call(method, url, body))
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        try:
            answer = self._route(request, method, url, body, read_timeout)
        except _Refused as e:
            raise e.error(str(e), request=request) from None
        return _response(request, answer)

    def close(self) -> None:
        pass

    def _route(
        self, request: requests.PreparedRequest, method: str, url: str, body: Json, timeout: float | None
    ) -> _Answer:
        parts = urlsplit(url)
        host, path = parts.netloc, unquote(parts.path)
        if f"http://{host}" == TOXIPROXY_API:
            if str(request.headers.get("User-Agent", "")).startswith("Mozilla/"):
                return _Answer(403, text="browser user agents are refused")
            return self._dispatch(self._toxiproxy, method, path, body, timeout)
        if f"http://{host}" == SUPERVISOR_API:
            return self._dispatch(self._supervisor, method, path, body, timeout)
        if f"http://{host}" == AUTOSCALER_URL and self.fake.state.get("autoscaler"):
            return self._switch(method, path, body, "/admin/paused", "paused", self.fake.paused, on=False)
        if f"http://{host}" == EDGE_URL and path == "/admin/health-checks" and self.fake.state.get("edge"):
            return self._switch(
                method, path, body, "/admin/health-checks", "enabled", self.fake.unchecked, on=True
            )
        if f"http://{host}" == EDGE_URL:
            return self._edge(method, path, body)
        for dc, info in self.fake.state["dcs"].items():
            if host == gateway_host(dc):
                if info["gateway"] is None:
                    raise _Refused(requests.ConnectionError, f"{host}: connection refused (gateway stopped)")
                return self._gateway_admin(dc, method, path, body)
        if method == "GET" and path == "/healthz":
            return self._healthz(url, host, timeout)
        raise _Refused(requests.ConnectionError, f"{host}: no such fake server")

    @staticmethod
    def _dispatch(
        routes: list[tuple[str, re.Pattern[str], Handler]],
        method: str,
        path: str,
        body: Json,
        timeout: float | None,
    ) -> _Answer:
        known_path = False
        for verb, pattern, handler in routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            known_path = True
            if verb == method:
                return handler(match, body, timeout)
        status = 405 if known_path else 404
        return _Answer(status, {"error": f"{method} {path}", "status": status})

    # ------------------------------------------------------------------ toxiproxy

    def _list_proxies(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        return _Answer(200, copy.deepcopy(self.fake.proxies))

    def _update_proxy(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        proxy = self.fake.proxies.get(match[1])
        if proxy is None:
            return _not_found("proxy not found")
        if not isinstance(body, dict):
            return _Answer(400, {"error": "bad request body", "status": 400})
        if not self.fake.ignore_proxy_updates:
            if "enabled" in body:
                proxy["enabled"] = bool(body["enabled"])
            if "upstream" in body:
                proxy["upstream"] = str(body["upstream"])
        return _Answer(200, copy.deepcopy(proxy))

    def _list_toxics(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        proxy = self.fake.proxies.get(match[1])
        if proxy is None:
            return _not_found("proxy not found")
        return _Answer(200, copy.deepcopy(proxy["toxics"]))

    def _add_toxic(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        proxy = self.fake.proxies.get(match[1])
        if proxy is None:
            return _not_found("proxy not found")
        if not isinstance(body, dict) or body.get("type") not in TOXIC_TYPES:
            return _Answer(400, {"error": "invalid toxic type", "status": 400})
        stream = body.get("stream", "downstream")
        if stream not in ("upstream", "downstream"):
            return _Answer(400, {"error": "stream was invalid", "status": 400})
        name = str(body.get("name") or f"{body['type']}_{stream}")
        if any(t["name"] == name for t in proxy["toxics"]):
            return _Answer(409, {"error": "toxic already exists", "status": 409})
        toxic = {
            "name": name,
            "type": body["type"],
            "stream": stream,
            "toxicity": float(body.get("toxicity", 1.0)),
            "attributes": dict(body.get("attributes") or {}),
        }
        if not self.fake.ignore_toxics:
            proxy["toxics"].append(toxic)
        return _Answer(200, copy.deepcopy(toxic))

    def _delete_toxic(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        proxy = self.fake.proxies.get(match[1])
        if proxy is None:
            return _not_found("proxy not found")
        kept = [t for t in proxy["toxics"] if t["name"] != match[2]]
        if len(kept) == len(proxy["toxics"]):
            return _not_found("toxic not found")
        proxy["toxics"] = kept
        return _Answer(204)

    # ------------------------------------------------------------------ supervisor

    def _hold(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        body = body if isinstance(body, dict) else {}
        dc, az, held = body.get("dc"), body.get("az"), body.get("held")
        known = dc in self.fake.state["dcs"] and az in self.fake.state["dcs"][dc]["azs"]
        if not known or not isinstance(held, bool):
            return _Answer(400, {"error": f"unknown pool {dc}/{az} or held not a boolean"})
        if self.fake.hold_ignored:
            previous = bool(self.fake.pool(str(dc), str(az))["held"])
            return _Answer(200, {"pool": f"{dc}/{az}", "previous": previous, "held": held})
        previous = self.fake.hold(str(dc), str(az), held)
        return _Answer(200, {"pool": f"{dc}/{az}", "previous": previous, "held": held})

    def _gateway(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        body = body if isinstance(body, dict) else {}
        dc, running = body.get("dc"), body.get("running")
        if dc not in self.fake.state["dcs"] or not isinstance(running, bool):
            return _Answer(400, {"error": f"unknown dc {dc!r} or running not a boolean"})
        if self.fake.gateway_ignored:
            previous = self.fake.gateway_running(str(dc))
        else:
            previous = self.fake.run_gateway(str(dc), running)
        return _Answer(200, {"dc": dc, "previous": previous, "running": running})

    # ------------------------------------------------------------------ per-DC switches

    def _switch(
        self, method: str, path: str, body: Json, post_path: str, field: str, off: set[str], on: bool
    ) -> _Answer:
        """The autoscaler's pause (``on=False``: ``paused`` true turns it off) or the edge's
        health checks (``on=True``: ``enabled`` false turns them off), per DC."""
        if method == "GET" and path in ("/admin/state", "/admin/health-checks"):
            return _Answer(200, {"paused" if field == "paused" else "stopped": sorted(off)})
        if (method, path) != ("POST", post_path):
            return _Answer(404, text="404: Not Found")
        body = body if isinstance(body, dict) else {}
        dc, value = body.get("dc"), body.get(field)
        if dc not in self.fake.state["dcs"] or not isinstance(value, bool):
            return _Answer(400, {"error": f"unknown dc {dc!r} or {field} not a boolean"})
        previous = dc not in off if on else dc in off
        if not self.fake.switches_ignored:
            if value is on:
                off.discard(dc)
            else:
                off.add(dc)
        return _Answer(200, {"dc": dc, "previous": previous, field: value})

    def _dc(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        body = body if isinstance(body, dict) else {}
        dc, up = body.get("dc"), body.get("up")
        if dc not in self.fake.state["dcs"] or not isinstance(up, bool):
            return _Answer(400, {"error": f"unknown dc {dc!r} or up not a boolean"})
        down = self.fake.state["down_dcs"]
        if self.fake.dc_ignored:
            return _Answer(200, {"dc": dc, "killed": []})
        if not up and dc not in down:
            if down:
                return _Answer(409, {"error": f"{down[0]} is out already"})
            return _Answer(200, {"dc": dc, "previous": "up", "killed": self.fake.lose_dc(str(dc)), "cut": []})
        if up and dc in down:
            self.fake.restore_dc(str(dc))
            return _Answer(200, {"dc": dc, "previous": "down"})
        return _Answer(200, {"dc": dc, "previous": "down" if dc in down else "up", "killed": []})

    def _sessions(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        return _Answer(200, self.fake.replication())

    def _promote(self, match: re.Match[str], body: Json, timeout: float | None) -> _Answer:
        body = body if isinstance(body, dict) else {}
        owner = body.get("dc")
        if owner not in self.fake.state["sessions"]:
            return _Answer(400, {"error": f"unknown dc {owner!r}"})
        if self.fake.promote_fails > 0:
            self.fake.promote_fails -= 1
            return _Answer(409, {"error": "REPLICAOF NO ONE failed", "replication": self.fake.replication()})
        out = self.fake.promote(str(owner), body.get("to"), str(body.get("reason", "promote")))
        return _Answer(200, {**out, "replication": self.fake.replication()})

    def _edge(self, method: str, path: str, body: Json) -> _Answer:
        down = self.fake.state["down_dcs"]
        if (method, path) == ("GET", "/admin/state"):
            return _Answer(
                200,
                {
                    dc: {"healthy": dc not in down, "away": self.fake.away.get(dc, False)}
                    for dc in self.fake.state["dcs"]
                },
            )
        if (method, path) == ("POST", "/admin/away"):
            dc, away = body.get("dc"), body.get("away")
            if dc not in self.fake.state["dcs"] or not isinstance(away, bool):
                return _Answer(400, {"error": "unknown dc or away not a boolean"})
            previous = self.fake.away.get(str(dc), False)
            self.fake.away[str(dc)] = away
            return _Answer(200, {"dc": dc, "previous": previous, "away": away})
        return _Answer(404, text="404: Not Found")

    # ------------------------------------------------------------------ gateways

    def _gateway_admin(self, dc: str, method: str, path: str, body: Json) -> _Answer:
        defences = self.fake.defences[dc]
        if (method, path) == ("GET", "/admin/state"):
            routes = {owner: st["primary"] for owner, st in self.fake.state["sessions"].items()}
            if self.fake.stale_route_reads > 0:
                self.fake.stale_route_reads -= 1
                routes = dict.fromkeys(routes, "stale")
            return _Answer(200, {"dc": dc, "defences": dict(defences), "in_flight": 0, "sessions": routes})
        if (method, path) == ("POST", "/admin/defences"):
            changes = {k: body[k] for k in defences if isinstance(body, dict) and k in body}
            if not changes or not all(isinstance(v, bool) for v in changes.values()):
                names = ", ".join(defences)
                return _Answer(400, {"error": f"body must map some of {names} to booleans"})
            previous = {k: defences[k] for k in changes}
            if not self.fake.defences_ignore:
                defences.update(changes)
            return _Answer(200, {"previous": previous, "defences": dict(defences)})
        if (method, path) == ("GET", "/healthz"):
            return _Answer(200, text="ok")
        return _Answer(404, text="404: Not Found")

    # ------------------------------------------------------------------ replica links

    def _healthz(self, url: str, listen: str, timeout: float | None) -> _Answer:
        """A GET through a replica link: the proxy's toxics are felt, then the replica answers."""
        self.fake.health_checks.append((url, timeout))
        found = [
            (slot, self.fake.proxies[slot["proxy"]])
            for info in self.fake.state["dcs"].values()
            for pool in info["azs"].values()
            for slot in pool["slots"]
            if slot["listen"] == listen
        ]
        if not found:
            raise _Refused(requests.ConnectionError, f"{listen}: connection refused")
        slot, proxy = found[0]
        kinds = {t["type"] for t in proxy["toxics"]}
        if not proxy["enabled"]:
            raise _Refused(requests.ConnectionError, f"{listen}: connection refused (proxy disabled)")
        if "timeout" in kinds:
            raise _Refused(requests.ReadTimeout, f"{listen}: read timed out (blackholed)")
        if "reset_peer" in kinds:
            raise _Refused(requests.ConnectionError, f"{listen}: connection reset by peer")
        if slot["replica"] is None:
            raise _Refused(requests.ConnectionError, f"{listen}: upstream closed the connection")
        if self.fake.latency_felt_ms is not None:
            delay_ms = self.fake.latency_felt_ms
        else:
            delay_ms = sum(
                float(t["attributes"].get("latency", 0)) for t in proxy["toxics"] if t["type"] == "latency"
            )
        if timeout is not None and delay_ms / 1000 > timeout:
            raise _Refused(requests.ReadTimeout, f"{listen}: read timed out after {timeout}s")
        time.sleep(delay_ms / 1000)
        return _Answer(200, text="ok")


def _not_found(message: str) -> _Answer:
    return _Answer(404, {"error": message, "status": 404})


def _response(request: requests.PreparedRequest, answer: _Answer) -> requests.Response:
    resp = requests.Response()
    resp.status_code = answer.status
    resp.reason = HTTPStatus(answer.status).phrase
    resp.request = request
    resp.url = str(request.url)
    resp.encoding = "utf-8"
    if answer.body is not None:
        resp._content = json.dumps(answer.body).encode()
        resp.headers["Content-Type"] = "application/json"
    elif answer.text is not None:
        resp._content = answer.text.encode()
        resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        resp._content = b""
    return resp


# ---------------------------------------------------------------------- load and drivers


class FakeLoad:
    """A load worker's handle, as ``chaosdrill.load.control.LoadHandle`` offers it to a surge.

    ``set_factor`` answers as the worker's ``POST /factor`` does (BadInput on ``stream``
    when the glob matches no stream); with ``ignore_factor`` it answers but changes nothing.
    """

    def __init__(
        self,
        streams: Mapping[str, float] | None = None,
        *,
        pid: int = 7_001,
        control_url: str = "http://127.0.0.1:7001",
        ignore_factor: bool = False,
    ) -> None:
        self.rates = dict(streams if streams is not None else {"chat": 10.0, "embed": 4.0})
        self.factors = dict.fromkeys(self.rates, 1.0)
        self.pid = pid
        self.control_url = control_url
        self.ignore_factor = ignore_factor
        self.running = True
        self.calls: list[tuple[str, float]] = []

    def alive(self) -> bool:
        return self.running

    def status(self) -> dict[str, Any]:
        """As the worker's ``GET /status``: each stream's base rate and current factor."""
        return {
            "streams": {
                name: {
                    "base_rate": rate,
                    "factor": self.factors[name],
                    "target_rate": rate * self.factors[name],
                }
                for name, rate in self.rates.items()
            }
        }

    def set_factor(self, stream_glob: str, factor: float) -> dict[str, Any]:
        self.calls.append((stream_glob, factor))
        matched = [name for name in self.rates if fnmatch.fnmatchcase(name, stream_glob)]
        if not matched:
            names = ", ".join(self.rates)
            raise BadInput(
                "<load control>", "stream", f"{stream_glob!r} matches no stream (streams: {names})"
            )
        if not self.ignore_factor:
            for name in matched:
                self.factors[name] = float(factor)
        rates = {name: rate * self.factors[name] for name, rate in self.rates.items()}
        return {"matched": matched, "factor": float(factor), "target_rates": rates}


class FakeDrivers:
    """``chaosdrill.faults.drivers.Drivers`` over a :class:`FakeSandbox` (and a :class:`FakeLoad`)."""

    def __init__(
        self,
        fake: FakeSandbox,
        handle: FakeLoad | None = None,
        streams: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.fake = fake
        self.handle = handle
        self.streams = None if streams is None else list(streams)

    def _driver(self) -> SandboxDriver:
        state = self.fake.snapshot()
        assert state is not None
        return SandboxDriver(
            state,
            session=self.fake.session(),
            reread=self.fake.snapshot,
            kill=self.fake.kill,
            is_alive=self.fake.alive,
        )

    def sandbox(self) -> SandboxDriver:
        if self.fake.gone:
            raise NotRunning("the sandbox is not running; start it with `chaosdrill sandbox up`")
        return self._driver()

    def sandbox_instance(self, instance: str) -> SandboxDriver | None:
        if self.fake.gone or instance != self.fake.instance:
            return None
        return self._driver()

    def system(self, configuration: Mapping[str, Any]) -> Any:
        raise AssertionError("a sandbox fault reached for a system file")

    def toxiproxy(self, api: str) -> ToxiproxyClient:
        """A client for a toxiproxy named in a ledger record, over the fake's transport."""
        return ToxiproxyClient(api, self.fake.session())

    def kube(self, configuration: Mapping[str, Any]) -> Any:
        raise AssertionError("a sandbox fault reached for Kubernetes")

    def kube_at(self, kubeconfig: str | None, context: str) -> Any:
        raise AssertionError("a sandbox fault reached for Kubernetes")

    def load(self) -> FakeLoad | None:
        return self.handle

    def load_streams(self) -> list[Mapping[str, Any]] | None:
        return self.streams


class FakeClock:
    """``time`` for a module whose waits should not take real seconds: sleeping advances it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
