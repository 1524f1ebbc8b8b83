"""The supervisor: starts every sandbox process, keeps replica counts, publishes the state.

It plays the kubelet and ReplicaSet: a replica that dies (say, SIGKILLed by a pod-kill
action) is restarted after ``restart_delay_s``; the autoscaler's decisions arrive on
``POST /scale`` and are applied here; an AZ outage is ``POST /hold`` (keep a pool at
zero until released). Every child gets PR_SET_PDEATHSIG, and the supervisor leads
its own session, so neither a crash of the supervisor nor ``kill -9`` leaves orphans.
Prometheus, Alertmanager and their webhook receiver (``chaosdrill.monitoring``) are
children like any other, unless ``--no-monitoring``.

Replica slots: each AZ pool has ``max_replicas`` toxiproxy proxies created up front
(``<dc>-<az>-replicas-<i>``). A replica binds to a free slot and the slot's upstream
is pointed at it. Faults applied to a link therefore also hit replicas that the
autoscaler adds later, as a network fault would.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from chaosdrill import tools
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import ChaosdrillError
from chaosdrill.monitoring.launcher import MonitoringStack
from chaosdrill.monitoring.rules import RuleParams
from chaosdrill.sandbox.service import bound_port, die_with_parent, metrics_handler
from chaosdrill.sandbox.sessions import SessionStores, SwitchFailed, redis_argv
from chaosdrill.sandbox.state import DcState, SandboxState, write_state
from chaosdrill.sandbox.topology import Topology, load_topology

__all__ = ["Supervisor", "main"]

PARKED_UPSTREAM = "127.0.0.1:9"  # discard port: a slot without a replica refuses connections
READY_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    kind: str
    proc: asyncio.subprocess.Process
    port: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)


@dataclass
class Slot:
    index: int
    proxy: str
    listen: str
    replica: Child | None = None


@dataclass
class PoolState:
    dc: str
    az: str
    desired: int
    slots: list[Slot]
    held: bool = False
    dc_down: bool = False  # its DC is out: the pool stays at zero until the DC comes back
    serial: int = 0


class Supervisor:
    def __init__(self, topo: Topology, home: Path, monitoring: RuleParams | None = None) -> None:
        self.topo = topo
        self.home = home
        self.state_file = home / "state.json"
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}
        self.pools: dict[str, PoolState] = {}
        self.redis: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.instance = f"{os.getpid()}-{time.time():.0f}"
        self.toxiproxy_api = ""
        self.toxi: ToxiproxyClient | None = None
        self.sessions: SessionStores | None = None
        self.down: dict[str, list[str]] = {}  # DC out -> the proxies its outage cut
        self.redis_bin = ""
        self.api_url = ""
        self.ready = False
        self.stopping = False
        self._respawn_pending: set[str] = set()
        self._respawns: set[asyncio.Task[None]] = set()
        self._last_written = ""
        self.monitoring = None if monitoring is None else MonitoringStack(home, self._spawn, monitoring)
        reg = self.registry = CollectorRegistry()
        self.m_restarts = Counter("supervisor_restarts_total", "Replicas restarted", ["pool"], registry=reg)
        self.m_replicas = Gauge("supervisor_replicas", "Live replicas", ["pool"], registry=reg)
        self.m_desired = Gauge("supervisor_desired_replicas", "Desired replicas", ["pool"], registry=reg)

    # -- processes ---------------------------------------------------------------------------
    async def _spawn(self, name: str, kind: str, argv: list[str], expect_ready: bool) -> Child:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if expect_ready else log,
            stderr=log,
            preexec_fn=die_with_parent,
        )
        log.close()
        child = Child(name, kind, proc)
        if expect_ready:
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
            except TimeoutError:
                line = b""
            text = line.decode().strip()
            if not text.startswith("READY "):
                proc.kill()
                raise RuntimeError(f"{name} did not start; see {self.logs / (name + '.log')}")
            child.port = int(text.split()[1])
        self.children[name] = child
        return child

    def _py(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    async def _wait_http(self, url: str) -> None:
        import aiohttp

        deadline = time.monotonic() + READY_TIMEOUT_S
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                try:
                    async with s.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status < 500:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S}s")

    # -- start-up ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.monitoring is not None:
            self.monitoring.prepare()
        port = free_port()
        binary = tools.toxiproxy_server()
        if not binary.exists():
            raise RuntimeError(f"{binary} missing; run `chaosdrill tools install`")
        await self._spawn(
            "toxiproxy", "toxiproxy", [str(binary), "-host", "127.0.0.1", "-port", str(port)], False
        )
        self.children["toxiproxy"].port = port
        self.toxiproxy_api = f"http://127.0.0.1:{port}"
        await self._wait_http(f"{self.toxiproxy_api}/version")
        self.toxi = ToxiproxyClient(self.toxiproxy_api)
        self.redis_bin = str(
            tools.find_system_binary("redis-server", "install it with `apt-get install redis-server`")
        )
        for dc in self.topo.dcs:
            await self._start_redis(dc)
            for az in self.topo.azs:
                self._create_pool(dc, az)
        self.sessions = SessionStores(self.topo, self.home, self._spawn, self.toxi, self.redis_bin, free_port)
        await self.sessions.start()
        await asyncio.gather(*(self._reconcile(key) for key in self.pools))
        self._write()
        for dc in self.topo.dcs:
            await self._start_gateway(dc)
        topo_json = json.dumps(self.topo.to_dict())
        edge = await self._spawn(
            "edge",
            "edge",
            self._py("chaosdrill.sandbox.edge", "--topology", topo_json, "--state", str(self.state_file)),
            True,
        )
        edge.labels = {"component": "edge"}
        scaler = await self._spawn(
            "autoscaler",
            "autoscaler",
            self._py(
                "chaosdrill.sandbox.autoscaler", "--topology", topo_json, "--state", str(self.state_file)
            ),
            True,
        )
        scaler.labels = {"component": "autoscaler"}
        if self.monitoring is not None:
            await self.monitoring.start()
            self._write()
            await self.monitoring.wait_targets_up(self.snapshot())
        self.ready = True
        self._write()

    async def _start_redis(self, dc: str) -> None:
        """The DC's answer cache (standalone); on a restart its proxy is pointed at the new port."""
        assert self.toxi is not None
        port = free_port()
        data = self.home / "redis" / dc
        data.mkdir(parents=True, exist_ok=True)
        child = await self._spawn(f"{dc}-redis", "redis", redis_argv(self.redis_bin, port, data), False)
        child.port = port
        child.labels = {"dc": dc, "component": "redis"}
        if dc in self.redis:
            self.toxi.update_proxy(self.redis[dc]["proxy"], upstream=f"127.0.0.1:{port}")
            self.redis[dc]["port"] = port
            return
        proxy = self.toxi.create_proxy(f"{dc}-redis", f"127.0.0.1:{port}")
        self.redis[dc] = {"port": port, "proxy": proxy.name, "listen": proxy.listen}

    def _create_pool(self, dc: str, az: str) -> None:
        assert self.toxi is not None
        slots = []
        for i in range(self.topo.autoscaler.max_replicas):
            proxy = self.toxi.create_proxy(f"{dc}-{az}-replicas-{i}", PARKED_UPSTREAM)
            slots.append(Slot(i, proxy.name, proxy.listen))
        self.pools[f"{dc}/{az}"] = PoolState(dc, az, self.topo.replicas_per_az, slots)

    async def _start_gateway(self, dc: str) -> None:
        topo_json = json.dumps(self.topo.to_dict())
        argv = self._py(
            "chaosdrill.sandbox.gateway", "--dc", dc, "--topology", topo_json, "--state", str(self.state_file)
        )
        gw = await self._spawn(f"{dc}-gateway", "gateway", argv, True)
        gw.labels = {"dc": dc, "component": "gateway"}
        self._write()

    # -- replicas ------------------------------------------------------------------------------
    async def _start_replica(self, pool: PoolState, slot: Slot) -> None:
        assert self.toxi is not None
        pool.serial += 1
        name = f"{pool.dc}-{pool.az}-r{pool.serial}"
        spec = json.dumps(self.topo.to_dict()["replica"])
        child = await self._spawn(
            name, "replica", self._py("chaosdrill.sandbox.replica", "--name", name, "--spec", spec), True
        )
        child.labels = {"dc": pool.dc, "az": pool.az, "pool": f"{pool.dc}/{pool.az}", "component": "replica"}
        self.toxi.update_proxy(slot.proxy, upstream=f"127.0.0.1:{child.port}")
        slot.replica = child
        self._event("started", name, pool)

    async def _stop_replica(self, pool: PoolState, slot: Slot) -> None:
        assert self.toxi is not None
        child = slot.replica
        slot.replica = None
        self.toxi.update_proxy(slot.proxy, upstream=PARKED_UPSTREAM)
        if child is not None:
            self.children.pop(child.name, None)
            if child.proc.returncode is None:
                if pool.dc_down:
                    child.proc.kill()  # a lost DC: no graceful stop
                else:
                    child.proc.terminate()
            self._event("stopped", child.name, pool)

    async def _reconcile(self, key: str) -> None:
        pool = self.pools[key]
        want = 0 if pool.held or pool.dc_down else pool.desired
        live = [s for s in pool.slots if s.replica is not None]
        free = [s for s in pool.slots if s.replica is None]
        if len(live) < want:
            await asyncio.gather(*(self._start_replica(pool, s) for s in free[: want - len(live)]))
        for slot in reversed(live[want:]):
            await self._stop_replica(pool, slot)
        self.m_replicas.labels(key).set(sum(1 for s in pool.slots if s.replica))
        self.m_desired.labels(key).set(want)

    def _event(self, kind: str, name: str, pool: PoolState) -> None:
        self.events.append({"at": time.time(), "type": kind, "name": name, "pool": f"{pool.dc}/{pool.az}"})
        del self.events[:-500]

    async def _watch(self) -> None:
        """Notice dead replicas and restart them after the restart delay (a ReplicaSet)."""
        while not self.stopping:
            for key, pool in self.pools.items():
                for slot in pool.slots:
                    child = slot.replica
                    if child is None or child.proc.returncode is None or child.name in self._respawn_pending:
                        continue
                    self._event("exited", child.name, pool)
                    self._respawn_pending.add(child.name)
                    task = asyncio.get_running_loop().create_task(self._respawn(key, slot, child))
                    self._respawns.add(task)  # held: tasks are weakly referenced
                    task.add_done_callback(self._respawns.discard)
            self._write()
            await asyncio.sleep(0.1)

    async def _respawn(self, key: str, slot: Slot, dead: Child) -> None:
        assert self.toxi is not None
        self.children.pop(dead.name, None)
        slot.replica = None
        self.toxi.update_proxy(slot.proxy, upstream=PARKED_UPSTREAM)
        await asyncio.sleep(self.topo.restart_delay_s)
        self._respawn_pending.discard(dead.name)
        if self.stopping:
            return
        self.m_restarts.labels(key).inc()
        await self._reconcile(key)

    # -- API ------------------------------------------------------------------------------------
    async def api_scale(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = f"{body.get('dc')}/{body.get('az')}"
        pool = self.pools.get(key)
        replicas = body.get("replicas")
        if pool is None or not isinstance(replicas, int) or not 0 <= replicas <= len(pool.slots):
            return web.json_response({"error": f"unknown pool {key} or replicas out of 0..max"}, status=400)
        previous = pool.desired
        pool.desired = replicas
        self.events.append(
            {
                "at": time.time(),
                "type": "scaled",
                "pool": key,
                "from": previous,
                "to": replicas,
                "by": str(body.get("by", "api")),
            }
        )
        await self._reconcile(key)
        self._write()
        return web.json_response({"pool": key, "previous": previous, "desired": replicas})

    async def api_hold(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = f"{body.get('dc')}/{body.get('az')}"
        pool = self.pools.get(key)
        if pool is None or not isinstance(body.get("held"), bool):
            return web.json_response({"error": f"unknown pool {key} or held not a boolean"}, status=400)
        previous = pool.held
        pool.held = body["held"]
        await self._reconcile(key)
        self._write()
        return web.json_response({"pool": key, "previous": previous, "held": pool.held})

    async def api_gateway(self, request: web.Request) -> web.Response:
        """Stop or start a DC's gateway: the sandbox's DC outage (the edge then fails over)."""
        body = await request.json()
        dc = body.get("dc")
        running = body.get("running")
        if dc not in self.topo.dcs or not isinstance(running, bool):
            return web.json_response({"error": f"unknown dc {dc!r} or running not a boolean"}, status=400)
        name = f"{dc}-gateway"
        child = self.children.get(name)
        previous = child is not None and child.proc.returncode is None
        if running and not previous:
            await self._start_gateway(dc)
        elif not running and child is not None:
            self.children.pop(name)
            if child.proc.returncode is None:
                child.proc.terminate()
                await child.proc.wait()
        self.events.append({"at": time.time(), "type": "gateway", "dc": dc, "running": running})
        self._write()
        return web.json_response({"dc": dc, "previous": previous, "running": running})

    # -- a whole DC ---------------------------------------------------------------------------
    def _dc_proxies(self, dc: str) -> list[str]:
        assert self.sessions is not None
        out = [slot.proxy for pool in self.pools.values() if pool.dc == dc for slot in pool.slots]
        out.append(self.redis[dc]["proxy"])
        return out + self.sessions.proxies_of(dc)

    async def dc_down(self, dc: str) -> dict[str, Any]:
        """Lose ``dc``: cut its links first (what was in flight on them is lost, as in a real
        network loss), then SIGKILL its gateway, replicas, cache Redis and session members."""
        assert self.toxi is not None and self.sessions is not None
        if dc in self.down:
            return {"dc": dc, "previous": "down", "killed": []}
        if self.down:
            raise SwitchFailed(f"{', '.join(self.down)} is out already: one DC outage at a time", {})
        cut = self._dc_proxies(dc)
        self.down[dc] = cut
        for proxy in cut:
            self.toxi.update_proxy(proxy, enabled=False)
        killed: list[int] = []
        for name in (f"{dc}-gateway", f"{dc}-redis"):
            child = self.children.pop(name, None)
            if child is not None and child.proc.returncode is None:
                child.proc.kill()
                await child.proc.wait()
                killed.append(child.proc.pid)
        for key, pool in self.pools.items():
            if pool.dc == dc:
                pool.dc_down = True
                killed += [s.replica.proc.pid for s in pool.slots if s.replica is not None]
                await self._reconcile(key)
        for pid in await self.sessions.kill_host(dc):
            killed.append(pid)
        for m in self.sessions.hosted_in(dc):
            self.children.pop(m.name, None)
        self.events.append({"at": time.time(), "type": "dc", "dc": dc, "up": False, "killed": killed})
        self._write()
        return {"dc": dc, "previous": "up", "killed": killed, "cut": cut}

    async def dc_up(self, dc: str) -> dict[str, Any]:
        """Bring ``dc`` back: Redis first (its session members rejoin as replicas of the
        current primaries), then its links, replicas and gateway."""
        assert self.toxi is not None and self.sessions is not None
        cut = self.down.get(dc)
        if cut is None:
            return {"dc": dc, "previous": "up"}
        await self._start_redis(dc)
        await self.sessions.start_host(dc)
        for proxy in cut:
            self.toxi.update_proxy(proxy, enabled=True)
        del self.down[dc]
        for key, pool in self.pools.items():
            if pool.dc == dc:
                pool.dc_down = False
                await self._reconcile(key)
        if f"{dc}-gateway" not in self.children:
            await self._start_gateway(dc)
        self.events.append({"at": time.time(), "type": "dc", "dc": dc, "up": True})
        self._write()
        return {"dc": dc, "previous": "down"}

    async def api_dc(self, request: web.Request) -> web.Response:
        """``{"dc": NAME, "up": false}`` loses a whole DC; ``"up": true`` brings it back."""
        body = await request.json()
        dc, up = body.get("dc"), body.get("up")
        if dc not in self.topo.dcs or not isinstance(up, bool):
            known = ", ".join(self.topo.dcs)
            return web.json_response(
                {"error": f"unknown dc {dc!r} (known: {known}) or up not a boolean"}, status=400
            )
        try:
            out = await (self.dc_up(dc) if up else self.dc_down(dc))
        except SwitchFailed as e:
            return web.json_response({"error": str(e), "replication": e.replication}, status=409)
        return web.json_response(out)

    async def api_sessions(self, _request: web.Request) -> web.Response:
        """Every session store's primary, members, links, offsets and lag."""
        assert self.sessions is not None
        return web.json_response(await self.sessions.status())

    async def api_promote(self, request: web.Request) -> web.Response:
        """``{"dc": OWNER, "to": HOST}``: make the member in HOST (default: the current
        replica) the primary of OWNER's state, and move the routing table to it."""
        assert self.sessions is not None
        body = await request.json()
        owner = body.get("dc")
        store = self.sessions.stores.get(str(owner))
        if store is None:
            known = ", ".join(self.sessions.stores)
            return web.json_response({"error": f"unknown dc {owner!r} (known: {known})"}, status=400)
        replica = store.other(store.primary)
        to = body.get("to") or (replica.host if replica else store.primary)
        try:
            out = await self.sessions.switch(store.owner, str(to), reason=str(body.get("reason", "promote")))
        except SwitchFailed as e:
            return web.json_response({"error": str(e), "replication": e.replication}, status=409)
        self.events.append({"at": time.time(), "type": "sessions", **out})
        self._write()
        out["replication"] = await self.sessions.status()
        return web.json_response(out)

    async def api_state(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def api_shutdown(self, _request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        return web.json_response({"stopping": True})

    def snapshot(self) -> SandboxState:
        dcs: dict[str, DcState] = {}
        for dc in self.topo.dcs:
            gw = self.children.get(f"{dc}-gateway")
            dcs[dc] = {
                "gateway": None
                if gw is None
                else {"url": f"http://127.0.0.1:{gw.port}", "pid": gw.proc.pid, "port": gw.port},
                "redis": {**self.redis.get(dc, {}), "pid": self.children[f"{dc}-redis"].proc.pid}
                if f"{dc}-redis" in self.children
                else self.redis.get(dc, {}),
                "azs": {},
            }
        for pool in self.pools.values():
            dcs[pool.dc]["azs"][pool.az] = {
                "desired": pool.desired,
                "held": pool.held,
                "slots": [
                    {
                        "index": s.index,
                        "proxy": s.proxy,
                        "listen": s.listen,
                        "replica": None
                        if s.replica is None
                        else {
                            "name": s.replica.name,
                            "pid": s.replica.proc.pid,
                            "port": s.replica.port,
                            "started_at": s.replica.started_at,
                            "labels": s.replica.labels,
                        },
                    }
                    for s in pool.slots
                ],
            }
        edge = self.children.get("edge")
        scaler = self.children.get("autoscaler")
        snap: SandboxState = {
            "instance": self.instance,
            "ready": self.ready,
            "supervisor": {"pid": os.getpid(), "pgid": os.getpgid(0), "api": self.api_url},
            "toxiproxy": {"api": self.toxiproxy_api, "pid": self.children["toxiproxy"].proc.pid}
            if "toxiproxy" in self.children
            else None,
            "edge": None if edge is None else {"url": f"http://127.0.0.1:{edge.port}", "pid": edge.proc.pid},
            "autoscaler": None
            if scaler is None
            else {"url": f"http://127.0.0.1:{scaler.port}", "pid": scaler.proc.pid},
            "dcs": dcs,
            "topology": self.topo.to_dict(),
            "events": self.events[-200:],
            "pids": sorted(c.proc.pid for c in self.children.values()),
            "down_dcs": sorted(self.down),
        }
        if self.sessions is not None:
            snap["sessions"] = self.sessions.publish()
        if self.monitoring is not None:
            snap["monitoring"] = self.monitoring.publish()
        return snap

    def _write(self) -> None:
        snap = self.snapshot()
        # The watcher calls this ten times a second; only a change is worth an fsync.
        fingerprint = json.dumps({k: v for k, v in snap.items() if k != "events"}, sort_keys=True) + str(
            len(self.events)
        )
        if fingerprint != self._last_written:
            write_state(self.state_file, snap)
            self._last_written = fingerprint
            if self.monitoring is not None:
                self.monitoring.update_targets(snap)

    async def stop(self) -> None:
        self.stopping = True
        procs = [c.proc for c in self.children.values() if c.proc.returncode is None]
        for p in procs:
            p.terminate()
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 5.0)
        except TimeoutError:
            for p in procs:
                if p.returncode is None:
                    p.kill()
        self.children.clear()
        self.state_file.unlink(missing_ok=True)

    async def run(self) -> None:
        app = web.Application()
        app.router.add_post("/scale", self.api_scale)
        app.router.add_post("/hold", self.api_hold)
        app.router.add_post("/gateway", self.api_gateway)
        app.router.add_post("/dc", self.api_dc)
        app.router.add_get("/sessions", self.api_sessions)
        app.router.add_post("/sessions/promote", self.api_promote)
        app.router.add_get("/state", self.api_state)
        app.router.add_post("/shutdown", self.api_shutdown)
        app.router.add_get("/metrics", metrics_handler(self.registry))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.api_url = f"http://127.0.0.1:{bound_port(site)}"
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            self._write()
            await self.start()
            watcher = loop.create_task(self._watch())
            assert self.sessions is not None
            beat = loop.create_task(self.sessions.heartbeat())
            await stop.wait()
            watcher.cancel()
            beat.cancel()
        finally:
            await self.stop()
            await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill sandbox supervisor")
    ap.add_argument("--topology", type=Path, default=None)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--no-monitoring", action="store_true", help="start no Prometheus or Alertmanager")
    ap.add_argument("--slo-target", type=float, default=RuleParams.slo_target)
    args = ap.parse_args()
    params = None if args.no_monitoring else RuleParams(slo_target=args.slo_target)
    sup = Supervisor(load_topology(args.topology), args.home, params)
    try:
        asyncio.run(sup.run())
    except (RuntimeError, ChaosdrillError) as e:
        print(f"supervisor: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
