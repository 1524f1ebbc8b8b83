"""The session stores: each DC's session state in a Redis primary, replicated asynchronously
to a replica in the next DC, and the routing table that tells gateways which one is primary.

Layout, for DC ``X`` and its peer ``P`` (the next DC in ring order, see :mod:`cells`):

- ``X-sessions-X``: the primary of X's state, hosted in X; ``P-sessions-X``: its replica,
  hosted in P. Each member has a toxiproxy proxy of the same name, the gateways' data path.
- ``redis-repl-X``: the replication link. The replica runs ``REPLICAOF`` against this proxy,
  whose upstream is X's current primary, so a latency toxic on it is replication lag.
- The routing table (``state.json``'s ``sessions``) maps X to the DC holding its primary and
  that member's proxy address; gateways re-read it every 0.25 s.

:meth:`SessionStores.switch` moves a state's primary. When the old primary is dead it is a
promotion (``REPLICAOF NO ONE``; whatever the replica had not received is lost: the RPO).
When the old primary is alive it is a planned switchover that loses nothing acknowledged:
writes are paused on the old primary (``CLIENT PAUSE WRITE``), the new one catches up to its
offset, is promoted, the routing table moves, the old primary becomes its replica, and the
pause ends (a paused write then meets a replica and fails: an error, never a lost ack).
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis

from chaosdrill.sandbox.cells import replica_host
from chaosdrill.sandbox.topology import Topology

__all__ = ["HEARTBEAT_KEY", "Member", "SessionStores", "Store", "SwitchFailed", "redis_argv", "settle_s"]

HEARTBEAT_KEY = "chaosdrill:heartbeat"
CONTROL_TIMEOUT_S = 1.0
READY_TIMEOUT_S = 10.0


class SpawnedChild(Protocol):
    port: int
    labels: dict[str, str]
    proc: asyncio.subprocess.Process


Spawn = Callable[[str, str, list[str], bool], Awaitable[SpawnedChild]]


class Proxies(Protocol):
    """The toxiproxy client the supervisor hands in (the sandbox imports no driver)."""

    def create_proxy(self, name: str, upstream: str, listen: str = ...) -> Any: ...

    def update_proxy(self, name: str, **fields: Any) -> Any: ...


class SwitchFailed(Exception):
    """A promotion or switchover that did not happen; ``replication`` is the state it left."""

    def __init__(self, message: str, replication: dict[str, Any]) -> None:
        super().__init__(message)
        self.replication = replication


def redis_argv(binary: str, port: int, data: Path) -> list[str]:
    """A Redis with no persistence: a restarted member comes back empty and resyncs."""
    return [
        binary,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        *("--dir", str(data), "--daemonize", "no", "--protected-mode", "yes"),
        # Full syncs at once (not after the default 5 s batching delay), and a replica that
        # notices a silent primary within seconds.
        *("--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1", "--repl-timeout", "5"),
        # Stopping the sandbox should not wait for lagging replicas (Redis 7 would, 10 s).
        *("--shutdown-on-sigterm", "now"),
    ]


def client(port: int, timeout_s: float = CONTROL_TIMEOUT_S) -> aioredis.Redis:
    return aioredis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        decode_responses=True,
    )


@dataclass
class Member:
    """One Redis holding ``owner``'s state, running in DC ``host``."""

    owner: str
    host: str
    proxy: str
    listen: str
    port: int = 0
    child: SpawnedChild | None = None

    @property
    def name(self) -> str:
        return f"{self.host}-sessions-{self.owner}"

    def alive(self) -> bool:
        return self.child is not None and self.child.proc.returncode is None


@dataclass
class Store:
    """``owner``'s state: its members, which one is primary, and its replication link."""

    owner: str
    primary: str
    members: dict[str, Member]
    repl_proxy: str
    repl_listen: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def other(self, host: str) -> Member | None:
        return next((m for h, m in self.members.items() if h != host), None)


async def replication_info(port: int) -> dict[str, Any]:
    """``INFO replication`` of the Redis on ``port``, plus its heartbeat; ``{"role": "down"}``
    when it does not answer."""
    try:
        async with client(port) as r:
            info: dict[str, Any] = await r.info("replication")
            beat = await r.get(HEARTBEAT_KEY)
    except (aioredis.RedisError, OSError, TimeoutError) as e:
        return {"role": "down", "error": str(e)}
    info["heartbeat"] = float(beat) if beat else None
    return info


def settle_s(proxy: Any) -> float:
    """How long after re-pointing ``proxy`` its torn-down links may still hold delayed data:
    the largest latency (+ jitter) of its toxics, plus a margin; 0 without latency, or when
    the proxy is disabled (a cut link tears nothing down when re-pointed). Until a toxic has
    handed that data to the closed connection and the link is gone, removing the toxic stalls
    toxiproxy (5 s per chunk), so the supervisor waits this out first."""
    if not getattr(proxy, "enabled", False):
        return 0.0
    longest = max(
        (
            float((t.get("attributes") or {}).get("latency", 0))
            + float((t.get("attributes") or {}).get("jitter", 0))
            for t in getattr(proxy, "toxics", None) or ()
            if isinstance(t, dict) and t.get("type") == "latency"
        ),
        default=0.0,
    )
    return longest / 1000.0 + 0.3 if longest > 0 else 0.0


def _offset(info: dict[str, Any]) -> int | None:
    if info.get("role") == "master":
        return int(info.get("master_repl_offset", 0))
    if info.get("role") == "slave":
        return int(info.get("slave_repl_offset", 0))
    return None


class SessionStores:
    """Every DC's session store, their members' processes and proxies, and the routing."""

    def __init__(
        self,
        topo: Topology,
        home: Path,
        spawn: Spawn,
        toxi: Proxies,
        redis_bin: str,
        free_port: Callable[[], int],
    ) -> None:
        self.topo = topo
        self.home = home
        self._spawn = spawn
        self.toxi = toxi
        self.redis_bin = redis_bin
        self.free_port = free_port
        self.stores: dict[str, Store] = {}
        self._lock = asyncio.Lock()

    # -- processes ---------------------------------------------------------------------------
    async def _run_member(self, member: Member, replicaof: str | None) -> None:
        member.port = self.free_port()
        data = self.home / "redis" / member.name
        data.mkdir(parents=True, exist_ok=True)
        argv = redis_argv(self.redis_bin, member.port, data)
        if replicaof is not None:
            host, port = replicaof.rsplit(":", 1)
            argv += ["--replicaof", host, port]
        child = await self._spawn(member.name, "redis", argv, False)
        child.port = member.port
        child.labels = {"dc": member.host, "owner": member.owner, "component": "sessions"}
        member.child = child
        await self._wait_ready(member)

    async def _wait_ready(self, member: Member) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not member.alive():
                break
            with contextlib.suppress(aioredis.RedisError, OSError, TimeoutError):
                async with client(member.port) as r:
                    if await r.ping():
                        return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{member.name} did not start; see {self.home / 'logs' / (member.name + '.log')}")

    async def start(self) -> None:
        """Start every store: the primary at home, then its replica in the next DC."""
        dcs = list(self.topo.dcs)
        for owner in dcs:
            peer = replica_host(owner, dcs)
            members: dict[str, Member] = {}
            for host in [owner] + ([peer] if peer else []):
                name = f"{host}-sessions-{owner}"
                members[host] = Member(owner, host, name, "")
            primary = members[owner]
            await self._run_member(primary, None)
            repl = self.toxi.create_proxy(f"redis-repl-{owner}", f"127.0.0.1:{primary.port}")
            store = self.stores[owner] = Store(owner, owner, members, repl.name, repl.listen)
            for member in members.values():
                if member is not primary:
                    await self._run_member(member, store.repl_listen)
                proxy = self.toxi.create_proxy(member.proxy, f"127.0.0.1:{member.port}")
                member.listen = proxy.listen
        await self.wait_in_sync(list(self.stores), READY_TIMEOUT_S)

    async def wait_in_sync(self, owners: list[str], timeout_s: float) -> dict[str, Any]:
        """Wait until each store's replica has its link up and the primary's offset."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = await self.status()
            waiting = [o for o in owners if not status[o]["in_sync"] or status[o]["lag_bytes"]]
            if not waiting:
                return status
            if time.monotonic() > deadline:
                raise SwitchFailed(f"session replicas of {waiting} not in sync within {timeout_s:g}s", status)
            await asyncio.sleep(0.05)

    def hosted_in(self, dc: str) -> list[Member]:
        return [m for s in self.stores.values() for m in s.members.values() if m.host == dc]

    def proxies_of(self, dc: str) -> list[str]:
        """The proxies a DC outage cuts: its members' and the replication links touching it."""
        out = [m.proxy for m in self.hosted_in(dc)]
        out += [s.repl_proxy for s in self.stores.values() if dc in s.members]
        return out

    async def kill_host(self, dc: str) -> list[int]:
        """SIGKILL every member running in ``dc``: a lost DC does not shut down politely (a
        Redis 7 primary asked to stop waits for its replicas, which would hide the RPO)."""
        killed = []
        for member in self.hosted_in(dc):
            if member.child is not None and member.alive():
                member.child.proc.kill()
                await member.child.proc.wait()
                killed.append(member.child.proc.pid)
            member.child = None
        return killed

    async def start_host(self, dc: str) -> None:
        """Bring ``dc``'s members back, each as a replica of its state's current primary. A
        state whose primary is the returning (empty) member is promoted elsewhere first, so a
        restart can never replace data with nothing."""
        for member in self.hosted_in(dc):
            store = self.stores[member.owner]
            if store.primary == dc:
                other = store.other(dc)
                if other is None or not other.alive():
                    # Nothing left to keep: the state was lost with both its members.
                    await self._run_member(member, None)
                    self.toxi.update_proxy(member.proxy, upstream=f"127.0.0.1:{member.port}", enabled=True)
                    store.history.append(
                        {"at": time.time(), "owner": store.owner, "to": dc, "reason": "restarted empty"}
                    )
                    continue
                await self.switch(member.owner, other.host, reason="restart")
            primary = store.members[store.primary]
            repl = self.toxi.update_proxy(
                store.repl_proxy, upstream=f"127.0.0.1:{primary.port}", enabled=True
            )
            await asyncio.sleep(settle_s(repl))
            await self._run_member(member, store.repl_listen)
            self.toxi.update_proxy(member.proxy, upstream=f"127.0.0.1:{member.port}", enabled=True)

    # -- roles -------------------------------------------------------------------------------
    async def switch(self, owner: str, to: str, reason: str = "promote") -> dict[str, Any]:
        """Make the member in ``to`` the primary of ``owner``'s state (see the module doc)."""
        async with self._lock:
            return await self._switch(owner, to, reason)

    async def _switch(self, owner: str, to: str, reason: str) -> dict[str, Any]:
        store = self.stores[owner]
        target = store.members.get(to)
        if target is None:
            raise SwitchFailed(
                f"{owner}'s state has no member in {to} (members: {sorted(store.members)})", {}
            )
        if store.primary == to:
            return {"owner": owner, "primary": to, "changed": False}
        if not target.alive():
            raise SwitchFailed(f"the member of {owner}'s state in {to} is not running", await self.status())
        old = store.members[store.primary]
        before = await replication_info(target.port)
        if before.get("role") != "slave":
            raise SwitchFailed(f"{target.name} is not a replica: {before}", await self.status())
        planned = old.alive()
        started = time.time()
        async with contextlib.AsyncExitStack() as stack:
            if planned:
                old_client = await stack.enter_async_context(client(old.port))
                pause_ms = int(self.topo.sessions.switchover_timeout_s * 1000) + 2000
                await old_client.client_pause(pause_ms, all=False)  # WRITE: reads go on
                stack.push_async_callback(self._unpause, old_client)
                goal = _offset(await replication_info(old.port)) or 0
                await self._catch_up(target, goal, store)
            async with client(target.port) as r:
                await r.replicaof("NO", "ONE")
                role = (await r.info("replication")).get("role")
            if role != "master":
                raise SwitchFailed(
                    f"{target.name} is still {role} after REPLICAOF NO ONE", await self.status()
                )
            store.primary = to
            repl = self.toxi.update_proxy(store.repl_proxy, upstream=f"127.0.0.1:{target.port}")
            if planned:
                host, port = store.repl_listen.rsplit(":", 1)
                await old_client.replicaof(host, port)
        # A re-pointed link under a latency toxic (a replication-lag drill): let its torn-down
        # connections drain before anyone may remove that toxic (see settle_s).
        await asyncio.sleep(settle_s(repl))
        event = {
            "at": started,
            "owner": owner,
            "from": old.host,
            "to": to,
            "reason": reason,
            "planned": planned,
            "received_offset": _offset(before),
            "took_s": round(time.time() - started, 4),
        }
        store.history.append(event)
        del store.history[:-50]
        return {"owner": owner, "primary": to, "changed": True, "event": event}

    async def _unpause(self, r: aioredis.Redis) -> None:
        with contextlib.suppress(aioredis.RedisError, OSError, TimeoutError):
            await r.client_unpause()

    async def _catch_up(self, target: Member, goal: int, store: Store) -> None:
        deadline = time.monotonic() + self.topo.sessions.switchover_timeout_s
        while True:
            info = await replication_info(target.port)
            if info.get("master_link_status") == "up" and (_offset(info) or 0) >= goal:
                return
            if time.monotonic() > deadline:
                raise SwitchFailed(
                    f"{target.name} did not reach offset {goal} of {store.owner}'s primary within "
                    f"{self.topo.sessions.switchover_timeout_s:g}s (at {_offset(info)}, link "
                    f"{info.get('master_link_status')}); nothing was switched",
                    await self.status(),
                )
            await asyncio.sleep(0.02)

    # -- reads -------------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        """Each store: its primary, every member's role, link and offset, and the replica's
        lag in bytes (offsets) and seconds (the heartbeat the primary has and it lacks)."""
        out: dict[str, Any] = {}
        for owner, store in self.stores.items():
            members: dict[str, Any] = {}
            infos: dict[str, dict[str, Any]] = {}
            for host, m in store.members.items():
                info = await replication_info(m.port) if m.alive() else {"role": "down"}
                infos[host] = info
                members[host] = {
                    "role": {"slave": "replica", "master": "primary"}.get(str(info.get("role")), "down"),
                    "link": info.get("master_link_status"),
                    "offset": _offset(info),
                    "port": m.port,
                    "proxy": m.proxy,
                    "listen": m.listen,
                    "pid": m.child.proc.pid if m.child is not None and m.alive() else None,
                }
            primary = infos.get(store.primary, {})
            replica = store.other(store.primary)
            rinfo = infos.get(replica.host, {}) if replica else {}
            lag_bytes = lag_s = None
            if primary.get("role") == "master" and rinfo.get("role") == "slave":
                lag_bytes = max(0, (_offset(primary) or 0) - (_offset(rinfo) or 0))
                if primary.get("heartbeat") is not None and rinfo.get("heartbeat") is not None:
                    lag_s = round(max(0.0, primary["heartbeat"] - rinfo["heartbeat"]), 3)
            out[owner] = {
                "primary": store.primary,
                "replica": replica.host if replica else None,
                "members": members,
                "in_sync": rinfo.get("role") == "slave"
                and rinfo.get("master_link_status") == "up"
                and str(rinfo.get("master_sync_in_progress", 0)) == "0",
                "lag_bytes": lag_bytes,
                "lag_s": lag_s,
                "repl_proxy": store.repl_proxy,
                "history": list(store.history),
            }
        return out

    def publish(self) -> dict[str, Any]:
        """The routing table and members, for ``state.json``."""
        return {
            owner: {
                "primary": s.primary,
                "address": s.members[s.primary].listen,
                "repl": {"proxy": s.repl_proxy, "listen": s.repl_listen},
                "members": {
                    host: {
                        "proxy": m.proxy,
                        "listen": m.listen,
                        "port": m.port,
                        "pid": m.child.proc.pid if m.child is not None and m.alive() else None,
                    }
                    for host, m in s.members.items()
                },
                "history": list(s.history[-10:]),
            }
            for owner, s in self.stores.items()
        }

    async def heartbeat(self) -> None:
        """Write the time into every live primary, every ``heartbeat_s``: lag in seconds."""
        clients: dict[int, aioredis.Redis] = {}
        try:
            while True:
                for store in self.stores.values():
                    m = store.members[store.primary]
                    if not m.alive():
                        continue
                    r = clients.get(m.port)
                    if r is None:
                        r = clients[m.port] = client(m.port, 0.2)
                    with contextlib.suppress(aioredis.RedisError, OSError, TimeoutError):
                        await r.set(HEARTBEAT_KEY, repr(time.time()))
                await asyncio.sleep(self.topo.sessions.heartbeat_s)
        finally:
            for r in clients.values():
                with contextlib.suppress(Exception):
                    await r.aclose()
