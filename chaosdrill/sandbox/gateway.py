"""A DC's gateway: rate limit, priority admission, least-connections balancing over the
AZ pools, a breaker per pool, and a marked degraded fallback (cache, then "busy").

Order of defences per request, cheapest refusal first:
token bucket (429) -> priority admission (batch shed with 429) -> pick a replica by least
connections among pools whose breaker admits -> on failure retry once elsewhere ->
fallback (cached answer from the local cache or Redis, else an explicit "busy" answer).
A fallback is always a 200 marked with ``X-Chaosdrill-Degraded`` and a ``degraded`` body
field, so load recorders can count it as good-but-degraded and never as a real answer.

Session state (:mod:`session_store`): a request carrying ``X-User`` and ``X-Chaosdrill-Seq``
writes the sequence number into the session store of the user's home cell once it is
admitted, before the answer is generated; a 200 carries ``X-Chaosdrill-Seq-Ack`` only if
that write succeeded on the cell's current primary, and a failed write is a 503.
``GET /v1/session/{user}`` reads it back. Every answer names the user's cell in
``X-Chaosdrill-Cell``.
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from chaosdrill.sandbox.breaker import Breaker, BreakerState
from chaosdrill.sandbox.cache import LocalCache
from chaosdrill.sandbox.cells import home_dc
from chaosdrill.sandbox.ratelimit import TenantLimiter
from chaosdrill.sandbox.service import metrics_handler, run_service
from chaosdrill.sandbox.session_store import SessionStoreClient, SessionUnavailable, parse_seq
from chaosdrill.sandbox.state import read_state
from chaosdrill.sandbox.topology import GatewaySpec, SessionsSpec, topology_from_dict

__all__ = ["ACK_HEADER", "CELL_HEADER", "DEGRADED_HEADER", "SEQ_HEADER", "Gateway", "admits", "main"]

DEGRADED_HEADER = "X-Chaosdrill-Degraded"
SEQ_HEADER = "X-Chaosdrill-Seq"
ACK_HEADER = "X-Chaosdrill-Seq-Ack"
CELL_HEADER = "X-Chaosdrill-Cell"
T = TypeVar("T")
BUSY_MESSAGE = "system busy, please try again later"
STATE_CODE = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}


def admits(in_flight: int, max_in_flight: int, batch_share: float, priority: str) -> bool:
    """Priority admission: interactive requests may fill the gateway, batch only
    ``batch_share`` of it, so under pressure batch is shed first and interactive last."""
    limit = max_in_flight * (batch_share if priority == "batch" else 1.0)
    return in_flight < limit


@dataclass
class Slot:
    pool: str
    address: str  # host:port of the toxiproxy proxy in front of the replica
    in_flight: int = 0
    ejected_until: float = 0.0


@dataclass
class Pool:
    name: str
    breaker: Breaker
    slots: dict[str, Slot] = field(default_factory=dict)


class UpstreamFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Gateway:
    def __init__(
        self,
        dc: str,
        spec: GatewaySpec,
        state_file: Path,
        dcs: tuple[str, ...] = (),
        sessions: SessionsSpec | None = None,
    ) -> None:
        self.dc = dc
        self.spec = spec
        self.state_file = state_file
        self.dcs = dcs or (dc,)
        sessions = sessions or SessionsSpec()
        self.sessions = SessionStoreClient(sessions.write_timeout_s, sessions.keep_seqs)
        b = spec.breaker
        self.defences = {
            "rate_limit": spec.rate_limit.enabled,
            "breaker": b.enabled,
            "fallback": spec.fallback.enabled,
        }
        self.pools: dict[str, Pool] = {}
        self._breaker_args = (b.window_s, b.min_requests, b.failure_ratio, b.open_s, b.half_open_probes)
        rl = spec.rate_limit
        self.limiter = TenantLimiter(rl.rate, rl.burst, rl.tenants)
        self.cache = LocalCache(spec.fallback.local_cache_size, spec.fallback.local_cache_ttl_s)
        self.redis_breaker = Breaker(2.0, 3, 0.5, 2.0, 1)
        self.redis: aioredis.Redis | None = None
        self.redis_address = ""
        self.in_flight = 0
        self._rng = random.Random()
        self._background: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None
        reg = self.registry = CollectorRegistry()
        self.m_requests = Counter(
            "gateway_requests_total", "Answers by outcome", ["outcome", "tenant"], registry=reg
        )
        self.m_upstream = Counter(
            "gateway_upstream_total", "Upstream attempts", ["pool", "result"], registry=reg
        )
        self.m_breaker = Gauge(
            "gateway_breaker_state", "0 closed, 1 open, 2 half-open", ["pool"], registry=reg
        )
        self.m_transitions = Counter("gateway_breaker_transitions_total", "", ["pool", "to"], registry=reg)
        self.m_fallback = Counter("gateway_fallback_total", "Degraded answers", ["kind"], registry=reg)
        self.m_limited = Counter(
            "gateway_ratelimited_total", "429s from the token bucket", ["tenant"], registry=reg
        )
        self.m_shed = Counter("gateway_shed_total", "Requests shed by priority", ["priority"], registry=reg)
        self.m_redis_err = Counter("gateway_redis_errors_total", "Failed Redis calls", registry=reg)
        self.m_bypass = Counter(
            "gateway_cache_bypass_total", "Redis skipped: its breaker is open", registry=reg
        )
        self.m_inflight = Gauge("gateway_in_flight", "Requests admitted and not answered", registry=reg)
        self.m_session = Counter(
            "gateway_session_ops_total", "Session writes and reads by result", ["op", "result"], registry=reg
        )
        for op in ("write", "read"):
            for result in ("ok", "error"):
                self.m_session.labels(op, result)

    # -- discovery -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Sync pools, slots and the Redis address from the supervisor's state file."""
        state = read_state(self.state_file)
        if state is None:
            return
        dc = state["dcs"][self.dc]
        for az, pool_state in dc["azs"].items():
            pool = self.pools.get(az)
            if pool is None:
                pool = self.pools[az] = Pool(az, Breaker(*self._breaker_args))
                pool.breaker.enabled = self.defences["breaker"]
            live = {s["listen"] for s in pool_state["slots"] if s.get("replica")}
            for addr in list(pool.slots):
                if addr not in live:
                    del pool.slots[addr]
            for addr in live:
                pool.slots.setdefault(addr, Slot(az, addr))
        self.sessions.update(state.get("sessions"))
        redis_addr = dc["redis"]["listen"]
        if redis_addr != self.redis_address:
            self.redis_address = redis_addr
            host, port = redis_addr.rsplit(":", 1)
            t = self.spec.fallback.redis_timeout_s
            self.redis = aioredis.Redis(
                host=host, port=int(port), socket_timeout=t, socket_connect_timeout=t, decode_responses=True
            )

    async def _refresh_loop(self) -> None:
        while True:
            # A missing state file (the supervisor restarting): try again shortly.
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.refresh()
            self._export_breakers()
            await asyncio.sleep(0.25)

    def _export_breakers(self) -> None:
        for pool in self.pools.values():
            self.m_breaker.labels(pool.name).set(STATE_CODE[pool.breaker.state])

    # -- balancing -------------------------------------------------------------------------
    def _pick(self, exclude: set[str]) -> Slot | None:
        """Least connections; ties broken at random, as nginx does, so that an idle
        service does not pile every request onto the first replica it lists."""
        now = time.monotonic()
        candidates = [
            slot
            for pool in self.pools.values()
            for slot in pool.slots.values()
            if slot.address not in exclude and slot.ejected_until <= now
        ]
        if not candidates:
            return None
        fewest = min(s.in_flight for s in candidates)
        best = self._rng.choice([s for s in candidates if s.in_flight == fewest])
        breaker = self.pools[best.pool].breaker
        before = breaker.state
        allowed = breaker.allow()
        self._note_transition(best.pool, before)
        if not allowed:
            # That pool refuses; try the others, excluding all of its slots.
            return self._pick(exclude | set(self.pools[best.pool].slots))
        return best

    def _note_transition(self, pool: str, before: BreakerState) -> None:
        after = self.pools[pool].breaker.state
        if after is not before:
            self.m_transitions.labels(pool, after.value).inc()

    async def _call(self, slot: Slot, payload: bytes) -> dict[str, Any]:
        assert self.session is not None
        slot.in_flight += 1
        try:
            async with self.session.post(
                f"http://{slot.address}/v1/generate",
                data=payload,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.spec.upstream_timeout_s),
            ) as resp:
                if resp.status != 200:
                    raise UpstreamFailed(str(resp.status))
                body: dict[str, Any] = await resp.json()
                return body
        except TimeoutError as e:
            raise UpstreamFailed("timeout") from e
        except aiohttp.ClientError as e:
            slot.ejected_until = time.monotonic() + 1.0  # passive outlier ejection
            raise UpstreamFailed("connect") from e
        finally:
            slot.in_flight -= 1

    def _record(self, pool: str, ok: bool, result: str) -> None:
        breaker = self.pools[pool].breaker
        before = breaker.state
        breaker.record(ok)
        self._note_transition(pool, before)
        self.m_upstream.labels(pool, result).inc()

    # -- cache --------------------------------------------------------------------------
    async def _redis_call(self, op: str, *args: Any) -> Any:
        before = self.redis_breaker.state
        if self.redis is None or not self.redis_breaker.allow():
            self.m_bypass.inc()
            return None
        try:
            result = await getattr(self.redis, op)(*args)
            self.redis_breaker.record(True)
            return result
        except (aioredis.RedisError, OSError, TimeoutError):
            self.m_redis_err.inc()
            self.redis_breaker.record(False)
            return None
        finally:
            if self.redis_breaker.state is not before:
                self.m_transitions.labels("redis", self.redis_breaker.state.value).inc()

    async def _remember(self, key: str, text: str) -> None:
        self.cache.put(key, text)
        await self._redis_call("set", f"cache:{key}", text, "EX", self.spec.fallback.redis_ttl_s)

    async def _fallback(self, key: str, tenant: str, reason: str) -> web.Response:
        if not self.defences["fallback"]:
            code = 504 if reason == "timeout" else 503
            self.m_requests.labels("error", tenant).inc()
            return web.json_response({"error": f"upstream failed: {reason}", "dc": self.dc}, status=code)
        text = self.cache.get(key)
        if text is None:
            cached = await self._redis_call("get", f"cache:{key}")
            text = cached if isinstance(cached, str) else None
        if text is not None:
            self.m_fallback.labels("cache").inc()
            self.m_requests.labels("degraded", tenant).inc()
            return web.json_response(
                {"text": text, "degraded": "cache", "dc": self.dc, "reason": reason},
                headers={DEGRADED_HEADER: "cache"},
            )
        self.m_fallback.labels("busy").inc()
        self.m_requests.labels("degraded", tenant).inc()
        return web.json_response(
            {"message": BUSY_MESSAGE, "degraded": "busy", "dc": self.dc, "reason": reason},
            headers={DEGRADED_HEADER: "busy"},
        )

    # -- the request path ---------------------------------------------------------------
    async def generate(self, request: web.Request) -> web.Response:
        tenant = request.headers.get("X-Tenant", "anonymous")
        priority = request.headers.get("X-Priority", "interactive")
        if self.defences["rate_limit"]:
            decision = self.limiter.check(tenant)
            if not decision.allowed:
                self.m_limited.labels(tenant).inc()
                self.m_requests.labels("rejected", tenant).inc()
                return web.json_response(
                    {"error": "rate limited", "tenant": tenant},
                    status=429,
                    headers={"Retry-After": TenantLimiter.retry_after_header(decision)},
                )
        if not admits(self.in_flight, self.spec.max_in_flight, self.spec.batch_share, priority):
            self.m_shed.labels(priority).inc()
            self.m_requests.labels("rejected", tenant).inc()
            return web.json_response(
                {"error": "server busy: shed", "priority": priority},
                status=429,
                headers={"Retry-After": "1", "X-Chaosdrill-Shed": priority},
            )
        payload = await request.read()
        key = hashlib.blake2b(payload, digest_size=12).hexdigest()
        self.in_flight += 1
        self.m_inflight.set(self.in_flight)
        try:
            acked = None
            if SEQ_HEADER in request.headers:
                written = await self._write_seq(request)
                if isinstance(written, web.Response):
                    return written
                acked = written
            resp = await self._serve(payload, key, tenant)
            if acked is not None and resp.status == 200:
                resp.headers[ACK_HEADER] = str(acked)
            return resp
        finally:
            self.in_flight -= 1
            self.m_inflight.set(self.in_flight)

    # -- session state --------------------------------------------------------------------
    def _cell(self, user: str) -> str:
        return home_dc(user, self.dcs)

    async def _write_seq(self, request: web.Request) -> int | web.Response:
        """Write the request's sequence number into its user's home cell; the number to
        acknowledge, or the error answer (400 for a bad header, 503 if the store failed)."""
        user = request.headers.get("X-User", "")
        try:
            if not user:
                raise ValueError(f"{SEQ_HEADER} needs X-User")
            seq = parse_seq(request.headers[SEQ_HEADER])
        except ValueError as e:
            return web.json_response({"error": f"bad {SEQ_HEADER}: {e}", "dc": self.dc}, status=400)
        cell = self._cell(user)
        try:
            await self._on_primary(cell, lambda: self.sessions.write(cell, user, seq))
        except SessionUnavailable as e:
            self.m_session.labels("write", "error").inc()
            return web.json_response(
                {"error": str(e), "dc": self.dc}, status=503, headers={CELL_HEADER: cell}
            )
        self.m_session.labels("write", "ok").inc()
        return seq

    async def _on_primary(self, cell: str, op: Callable[[], Awaitable[T]]) -> T:
        """``op`` on the cell's primary; if it fails and the routing table has moved since
        the last refresh (a promotion), once more on the new primary."""
        before = self.sessions.routes.get(cell)  # the route this attempt takes
        try:
            return await op()
        except SessionUnavailable:
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.refresh()
            if self.sessions.routes.get(cell) == before:
                raise
        return await op()

    async def read_session(self, request: web.Request) -> web.Response:
        """``GET /v1/session/{user}``: the user's latest acknowledged seq from their cell's primary."""
        user = request.match_info["user"]
        cell = self._cell(user)
        try:
            latest, seqs, route = await self._on_primary(cell, lambda: self.sessions.read(cell, user))
        except SessionUnavailable as e:
            self.m_session.labels("read", "error").inc()
            return web.json_response(
                {"error": str(e), "dc": self.dc}, status=503, headers={CELL_HEADER: cell}
            )
        self.m_session.labels("read", "ok").inc()
        return web.json_response(
            {"user": user, "seq": latest, "store": route.primary, "seqs": seqs, "dc": self.dc},
            headers={CELL_HEADER: cell},
        )

    async def _serve(self, payload: bytes, key: str, tenant: str) -> web.Response:
        tried: set[str] = set()
        reason = "no healthy replica"
        for _attempt in range(1 + self.spec.retries):
            slot = self._pick(tried)
            if slot is None:
                break
            tried.add(slot.address)
            try:
                body = await self._call(slot, payload)
            except UpstreamFailed as e:
                reason = e.reason
                self._record(slot.pool, False, e.reason)
                if e.reason == "timeout":
                    break  # the budget is spent; retrying would double the user's wait
                continue
            self._record(slot.pool, True, "ok")
            body["dc"] = self.dc
            text = body.get("text")
            if isinstance(text, str):
                # Write-behind: the answer does not wait for the cache. Keep a reference, or
                # the task may be garbage-collected before it runs.
                task = asyncio.get_running_loop().create_task(self._remember(key, text))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            self.m_requests.labels("ok", tenant).inc()
            return web.json_response(body)
        return await self._fallback(key, tenant, reason)

    # -- admin ----------------------------------------------------------------------------
    async def admin_state(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "dc": self.dc,
                "defences": self.defences,
                "in_flight": self.in_flight,
                "breakers": {
                    name: {
                        "state": p.breaker.state.value,
                        "transitions": [{"at": t.at, "state": t.state.value} for t in p.breaker.transitions],
                        "slots": len(p.slots),
                    }
                    for name, p in self.pools.items()
                },
                "redis_breaker": {
                    "state": self.redis_breaker.state.value,
                    "transitions": [
                        {"at": t.at, "state": t.state.value} for t in self.redis_breaker.transitions
                    ],
                },
                "cache_entries": len(self.cache),
                "sessions": {cell: route.primary for cell, route in sorted(self.sessions.routes.items())},
            }
        )

    async def admin_defences(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            changes = {k: body[k] for k in self.defences if k in body}
            if not changes or not all(isinstance(v, bool) for v in changes.values()):
                raise ValueError
        except (ValueError, TypeError):
            names = ", ".join(self.defences)
            return web.json_response({"error": f"body must map some of {names} to booleans"}, status=400)
        previous = {k: self.defences[k] for k in changes}
        self.defences.update(changes)
        for pool in self.pools.values():
            pool.breaker.enabled = self.defences["breaker"]
        return web.json_response({"previous": previous, "defences": self.defences})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def on_started(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))
        self.refresh()
        self._background.add(asyncio.get_running_loop().create_task(self._refresh_loop()))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/generate", self.generate)
        app.router.add_get("/v1/session/{user}", self.read_session)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/admin/state", self.admin_state)
        app.router.add_post("/admin/defences", self.admin_defences)
        app.router.add_get("/metrics", metrics_handler(self.registry))
        return app


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill sandbox gateway")
    ap.add_argument("--dc", required=True)
    ap.add_argument("--topology", required=True, help="topology as JSON")
    ap.add_argument("--state", required=True, type=Path)
    args = ap.parse_args()
    topo = topology_from_dict(json.loads(args.topology))
    gw = Gateway(args.dc, topo.gateway, args.state, topo.dcs, topo.sessions)
    run_service(gw.app(), 0, gw.on_started)


if __name__ == "__main__":
    main()
