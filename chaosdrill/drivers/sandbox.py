"""The sandbox driver: one running sandbox instance, read through its state file and reached
through its toxiproxy, supervisor and gateway admin APIs.

It holds clients and typed reads and nothing else: the faults that use it live in
:mod:`chaosdrill.faults.kinds`. Every HTTP call goes through one ``requests`` session and
every signal through ``kill``/``alive``, so a unit test hands in a session with a fake
adapter mounted (in the style of httpx's ``MockTransport``) and its own process table.
"""

import fnmatch
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from chaosdrill import paths
from chaosdrill.drivers.toxiproxy import Link, ToxiproxyClient
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.procs import alive
from chaosdrill.sandbox.lifecycle import require_state
from chaosdrill.sandbox.state import read_state

__all__ = [
    "HTTP_TIMEOUT_S",
    "Link",
    "Replica",
    "SandboxDriver",
    "admin_get",
    "gateway_url",
    "parse_selector",
]

HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Replica:
    name: str
    pid: int
    port: int
    labels: Mapping[str, str]


def parse_selector(selector: str, source: str = "<argument>") -> dict[str, str]:
    """A Kubernetes-style equality selector, ``dc=dc1,az=az-a`` (empty selects all)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise BadInput(source, "selector", f"{part!r} is not key=value (e.g. dc=dc1,az=az-a)")
        out[key.strip()] = value.strip()
    return out


def gateway_url(state: Mapping[str, Any], dc: str) -> str:
    """The URL of ``dc``'s running gateway; ActivityFailed for an unknown or stopped DC."""
    info = state["dcs"].get(dc)
    if info is None:
        raise ActivityFailed(f"unknown data center {dc!r}; the sandbox has {', '.join(state['dcs'])}")
    gw = info.get("gateway")
    if not gw:
        raise ActivityFailed(f"the gateway of {dc} is not running")
    return str(gw["url"])


def admin_get(url: str, path: str, session: requests.Session | None = None) -> dict[str, Any]:
    """GET a sandbox component's admin JSON; ActivityFailed if it cannot be read."""
    try:
        resp = (session or requests).get(f"{url}{path}", timeout=HTTP_TIMEOUT_S)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body
    except requests.RequestException as e:
        raise ActivityFailed(f"cannot read {url}{path}: {e}") from e


class SandboxDriver:
    """One sandbox instance: its state (re-read on demand), and the calls that reach it."""

    def __init__(
        self,
        state: Mapping[str, Any],
        session: requests.Session | None = None,
        reread: Callable[[], Mapping[str, Any] | None] | None = None,
        kill: Callable[[int, int], None] = os.kill,
        is_alive: Callable[[int], bool] = alive,
    ) -> None:
        self._state = state
        self.http = session or requests.Session()
        self._reread = reread or (lambda: read_state(paths.sandbox_state_file()))
        self.kill = kill
        self.is_alive = is_alive

    @classmethod
    def running(cls) -> "SandboxDriver":
        """The running, ready sandbox; NotRunning saying how to start one."""
        return cls(require_state())

    @classmethod
    def instance(cls, instance: str) -> "SandboxDriver | None":
        """The sandbox instance ``instance`` if it still runs, else None: a fault recorded on an
        instance that has gone went away with it."""
        state = read_state(paths.sandbox_state_file())
        if not state or state.get("instance") != instance or not alive(int(state["supervisor"]["pid"])):
            return None
        return cls(state)

    # ------------------------------------------------------------------ reads

    @property
    def state(self) -> Mapping[str, Any]:
        return self._state

    def fresh(self) -> Mapping[str, Any]:
        """The state as the supervisor last wrote it (replicas come and go)."""
        self._state = self._reread() or self._state
        return self._state

    @property
    def instance_id(self) -> str:
        return str(self._state["instance"])

    @property
    def dcs(self) -> list[str]:
        return list(self._state["dcs"])

    def links(self) -> list[Link]:
        api = self.toxiproxy_api
        out = []
        for dc, info in self._state["dcs"].items():
            redis = info.get("redis") or {}
            if redis.get("proxy"):
                out.append(Link(dc, "*", "redis", redis["proxy"], redis["listen"], False, api))
            for az, pool in info["azs"].items():
                for slot in pool["slots"]:
                    live = bool(slot.get("replica"))
                    health = f"http://{slot['listen']}/healthz" if live else None
                    out.append(Link(dc, az, "replicas", slot["proxy"], slot["listen"], live, api, health))
        # Session state: each member's proxy is a "sessions" link of the DC it runs in; each
        # state's replication link is its owner's "redis-repl" link.
        for owner, store in (self._state.get("sessions") or {}).items():
            for host, member in store["members"].items():
                out.append(Link(host, "*", "sessions", member["proxy"], member["listen"], False, api))
            repl = store["repl"]
            out.append(Link(owner, "*", "redis-repl", repl["proxy"], repl["listen"], False, api))
        return out

    def select_links(self, dc: str, az: str, link: str) -> list[Link]:
        """Links whose dc, az and link names match the glob patterns; ActivityFailed if none."""
        every = self.links()
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

    def replicas(self, selector: Mapping[str, str]) -> list[Replica]:
        found = []
        for info in self._state["dcs"].values():
            for pool in info["azs"].values():
                for slot in pool["slots"]:
                    rep = slot.get("replica")
                    if rep and all(
                        fnmatch.fnmatchcase(rep["labels"].get(k, ""), v) for k, v in selector.items()
                    ):
                        found.append(Replica(rep["name"], int(rep["pid"]), int(rep["port"]), rep["labels"]))
        return found

    def zone_pool(self, zone: str) -> tuple[str, str]:
        """``dc1-az-a`` (the Kubernetes zone name) -> (``dc1``, ``az-a``)."""
        for dc, info in self._state["dcs"].items():
            for az in info["azs"]:
                if f"{dc}-{az}" == zone:
                    return dc, str(az)
        known = sorted(f"{dc}-{az}" for dc, info in self._state["dcs"].items() for az in info["azs"])
        raise ActivityFailed(f"unknown zone {zone!r}; the sandbox has {', '.join(known)}")

    def live_replicas(self, dc: str, az: str) -> int:
        pool = self.fresh()["dcs"][dc]["azs"][az]
        return sum(1 for s in pool["slots"] if s.get("replica"))

    def gateway_running(self, dc: str) -> bool:
        return bool(self.fresh()["dcs"][dc].get("gateway"))

    def gateway_url(self, dc: str) -> str:
        return gateway_url(self._state, dc)

    def known_dc(self, dc: str) -> str:
        """``dc`` if the sandbox has it; ActivityFailed listing the valid names otherwise."""
        if dc not in self._state["dcs"]:
            raise ActivityFailed(
                f"unknown data center {dc!r}; the sandbox has {', '.join(self._state['dcs'])}"
            )
        return dc

    def down_dcs(self) -> list[str]:
        """The DCs out now (a whole-DC outage), from the supervisor's latest state."""
        return list(self.fresh().get("down_dcs") or [])

    def replication(self) -> dict[str, Any]:
        """Every DC's session store: primary, members' roles, links, offsets and lag."""
        return self.admin_get(self.supervisor_api, "/sessions")

    @property
    def edge_url(self) -> str:
        edge = self._state.get("edge")
        if not edge:
            raise ActivityFailed("the sandbox's edge is not running")
        return str(edge["url"])

    def edge_state(self) -> dict[str, Any]:
        """The edge's view of each DC: healthy, held away, and their transitions."""
        return self.admin_get(self.edge_url, "/admin/state")

    # ------------------------------------------------------------------ clients

    @property
    def toxiproxy_api(self) -> str:
        return str(self._state["toxiproxy"]["api"])

    def toxiproxy(self, api: str | None = None) -> ToxiproxyClient:
        return ToxiproxyClient(api or self.toxiproxy_api, self.http)

    @property
    def supervisor_api(self) -> str:
        return str(self._state["supervisor"]["api"])

    def admin_get(self, url: str, path: str) -> dict[str, Any]:
        return admin_get(url, path, self.http)

    def post(self, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST JSON to a sandbox component's admin API; anything but a 200 is ActivityFailed."""
        try:
            resp = self.http.post(url, json=dict(body), timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            raise ActivityFailed(f"{url} did not answer: {e}") from e
        if resp.status_code != 200:
            raise ActivityFailed(f"{url} refused {dict(body)}: HTTP {resp.status_code}: {resp.text}")
        out: dict[str, Any] = resp.json()
        return out

    def timed_get(self, url: str, timeout_s: float) -> float:
        """Seconds one GET of ``url`` took; RequestException if it failed."""
        t0 = time.perf_counter()
        self.http.get(url, timeout=timeout_s)
        return time.perf_counter() - t0
