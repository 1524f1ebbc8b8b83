"""The edge: cell routing by hash(user) % DCs, health checks, failover and failback.

Each user has a home DC (the cell). When a DC fails its health checks, its cells move
to the next healthy DC in ring order; when it has passed ``healthy_after`` checks in a
row again, they fail back. Transitions are timestamped on /admin/state so a probe can
measure time-to-failover (the RTO) from the fault's start.

``POST /admin/health-checks {"dc": "dc2", "enabled": false}`` stops the health checks of one
DC (it keeps the health it has, so its cells stay where they are) until they are enabled
again: the ``health_checks_off`` fault, a drill of "what if failover were not there?".
Refused requests are still retried on the next DC.

Degraded answers (the gateway's ``X-Chaosdrill-Degraded``) are counted by the DC that served
them (``edge_degraded_total``), so a fallback is judged on the DC that gave it.

``POST /admin/away {"dc": X, "away": true}`` keeps X's cells on the survivors even while X
is healthy: a DC coming back from an outage is held away until it has been healthy for the
failback time its drill asks for, and its state's primaries are home again.

Every answer carries ``X-Chaosdrill-DC`` (the DC that served it, ``none`` if none did) and
``X-Chaosdrill-Cell`` (the user's home cell, named after its DC). ``GET /v1/session/{user}``
is routed like the user's other requests.
"""

import argparse
import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chaosdrill.sandbox.cells import home_dc_index
from chaosdrill.sandbox.service import metrics_handler, run_service
from chaosdrill.sandbox.state import read_state
from chaosdrill.sandbox.topology import EdgeSpec, topology_from_dict

__all__ = ["Edge", "home_dc_index", "main"]

SERVED_BY_HEADER = "X-Chaosdrill-DC"
CELL_HEADER = "X-Chaosdrill-Cell"
DEGRADED_HEADER = "X-Chaosdrill-Degraded"
DEGRADED_KINDS = ("cache", "busy")
FORWARD_REQUEST = ("X-Tenant", "X-User", "X-Priority", "X-Chaosdrill-Seq", "Content-Type")
FORWARD_RESPONSE = (
    "Retry-After",
    DEGRADED_HEADER,
    "X-Chaosdrill-Shed",
    "X-Chaosdrill-Seq-Ack",
    CELL_HEADER,
    "Content-Type",
)
NO_DC = "none"  # the ``dc`` label of an answer no data center gave (no healthy DC left)
# The statuses the sandbox answers with, created at zero so that rate() sees the first error:
# a counter series born at its first increment loses that increment to rate().
KNOWN_CODES = ("200", "429", "502", "503", "504")
# Latency buckets around the replicas' ~100 ms median and the gateway's 0.5 s upstream timeout.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


@dataclass
class DcHealth:
    name: str
    url: str = ""
    healthy: bool = True
    fails: int = 0
    passes: int = 0
    away: bool = False  # held off its cells (failback not yet allowed), healthy or not
    transitions: list[dict[str, object]] = field(default_factory=list)
    away_transitions: list[dict[str, object]] = field(default_factory=list)
    # [second, degraded answers served in it], the last 15 minutes: the probes' account of a
    # DC's fallback when no Prometheus is at hand.
    degraded: deque[list[int]] = field(default_factory=lambda: deque(maxlen=900))

    def count_degraded(self, now: float) -> None:
        second = int(now)
        if self.degraded and self.degraded[-1][0] == second:
            self.degraded[-1][1] += 1
        else:
            self.degraded.append([second, 1])


class Edge:
    def __init__(self, dcs: list[str], spec: EdgeSpec, state_file: Path) -> None:
        self.spec = spec
        self.state_file = state_file
        self.order = dcs
        self.health = {dc: DcHealth(dc) for dc in dcs}
        self.unchecked: set[str] = set()  # DCs whose health checks a drill has stopped
        self.session: aiohttp.ClientSession | None = None
        reg = self.registry = CollectorRegistry()
        self.m_routed = Counter("edge_requests_total", "Requests by serving DC", ["dc", "home"], registry=reg)
        self.m_healthy = Gauge("edge_dc_healthy", "1 when the DC passes health checks", ["dc"], registry=reg)
        self.m_held = Gauge(
            "edge_dc_away",
            "1 while the DC's cells are held on the survivors (failback pending)",
            ["dc"],
            registry=reg,
        )
        self.m_failed = Counter("edge_upstream_errors_total", "Gateway unreachable", ["dc"], registry=reg)
        self.m_away = Counter(
            "edge_served_away_total",
            "Requests a DC other than the user's home DC served",
            ["home"],
            registry=reg,
        )
        self.m_checks = Gauge(
            "edge_health_checks_enabled", "0 while a drill has stopped a DC's checks", ["dc"], registry=reg
        )
        self.m_degraded = Counter(
            "edge_degraded_total", "Degraded answers users got, by serving DC", ["dc", "kind"], registry=reg
        )
        for dc in dcs:
            self.m_checks.labels(dc).set(1)
            self.m_away.labels(dc)
            for kind in DEGRADED_KINDS:
                self.m_degraded.labels(dc, kind)
            self.m_held.labels(dc).set(0)
            # Exported at 0 from the start: a counter born at its first failure would lose that
            # first increase to rate(), and a DC failed over within a second would never page.
            self.m_failed.labels(dc)
            for home in dcs:
                self.m_routed.labels(dc, home)
        # What users saw, for the SLO rules in monitoring/: every answer, the edge's own included.
        self.m_responses = Counter(
            "edge_responses_total", "Answers to users by serving DC and status", ["dc", "code"], registry=reg
        )
        self.m_latency = Histogram(
            "edge_request_duration_seconds",
            "Time from request to answer, by serving DC",
            ["dc"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        for dc in (*dcs, NO_DC):
            self.m_latency.labels(dc)
            for code in KNOWN_CODES:
                self.m_responses.labels(dc, code)

    def route(self, user: str, avoid: str = "") -> DcHealth | None:
        """The user's home DC, or the next healthy one in ring order (skipping ``avoid``)."""
        home = home_dc_index(user, len(self.order))
        for step in range(len(self.order)):
            h = self.health[self.order[(home + step) % len(self.order)]]
            if h.healthy and h.url and not h.away and h.name != avoid:
                return h
        return None

    def _refresh_urls(self) -> None:
        state = read_state(self.state_file)
        if state is None:
            return
        for dc, info in state["dcs"].items():
            gw = info.get("gateway") or {}
            if dc in self.health:
                self.health[dc].url = str(gw.get("url", ""))

    async def _check(self, h: DcHealth) -> None:
        assert self.session is not None
        ok = False
        if h.url:
            try:
                async with self.session.get(
                    f"{h.url}/healthz", timeout=aiohttp.ClientTimeout(total=self.spec.health_interval_s)
                ) as resp:
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
        if ok:
            h.passes, h.fails = h.passes + 1, 0
            if not h.healthy and h.passes >= self.spec.healthy_after:
                h.healthy = True
                h.transitions.append({"at": time.time(), "healthy": True})
        else:
            h.fails, h.passes = h.fails + 1, 0
            if h.healthy and h.fails >= self.spec.unhealthy_after:
                h.healthy = False
                h.transitions.append({"at": time.time(), "healthy": False})
        self.m_healthy.labels(h.name).set(1 if h.healthy else 0)

    async def _health_loop(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self._refresh_urls()
            checked = [h for h in self.health.values() if h.name not in self.unchecked]
            await asyncio.gather(*(self._check(h) for h in checked))
            await asyncio.sleep(self.spec.health_interval_s)

    async def generate(self, request: web.Request) -> web.Response:
        return await self._answer(request, request.headers.get("X-User", ""), "POST", "/v1/generate")

    async def read_session(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        return await self._answer(request, user, "GET", request.path)

    async def _answer(self, request: web.Request, user: str, method: str, path: str) -> web.Response:
        started = time.perf_counter()
        resp, dc = await self._route_request(request, user, method, path)
        resp.headers[SERVED_BY_HEADER] = dc
        resp.headers[CELL_HEADER] = self.order[home_dc_index(user, len(self.order))]
        self.m_responses.labels(dc, str(resp.status)).inc()
        self.m_latency.labels(dc).observe(time.perf_counter() - started)
        return resp

    async def _route_request(
        self, request: web.Request, user: str, method: str, path: str
    ) -> tuple[web.Response, str]:
        """The answer, and the DC it is accounted to (the one that failed, for a 502)."""
        assert self.session is not None
        target = self.route(user)
        if target is None:
            return web.json_response({"error": "no healthy data center"}, status=503), NO_DC
        home = self.order[home_dc_index(user, len(self.order))]
        body = await request.read()
        headers = {k: request.headers[k] for k in FORWARD_REQUEST if k in request.headers}
        call = (method, path, body, headers)
        try:
            return await self._forward(target, home, call), target.name
        except aiohttp.ClientConnectorError:
            # Refused: the request never reached the gateway, so it is safe to send it to
            # the next DC now rather than wait for the health checks to notice.
            self.m_failed.labels(target.name).inc()
            retry = self.route(user, avoid=target.name)
            if retry is not None:
                try:
                    return await self._forward(retry, home, call), retry.name
                except (aiohttp.ClientError, TimeoutError):
                    self.m_failed.labels(retry.name).inc()
        except (aiohttp.ClientError, TimeoutError):
            self.m_failed.labels(target.name).inc()
        return web.json_response({"error": f"gateway {target.name} unreachable"}, status=502), target.name

    async def _forward(
        self, target: DcHealth, home: str, call: tuple[str, str, bytes, dict[str, str]]
    ) -> web.Response:
        assert self.session is not None
        method, path, body, headers = call
        async with self.session.request(
            method,
            f"{target.url}{path}",
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.spec.timeout_s),
        ) as resp:
            payload = await resp.read()
            out = {k: resp.headers[k] for k in FORWARD_RESPONSE if k in resp.headers}
            self.m_routed.labels(target.name, home).inc()
            if target.name != home:
                self.m_away.labels(home).inc()
            degraded = resp.headers.get(DEGRADED_HEADER)
            if degraded is not None and resp.status == 200:
                self.m_degraded.labels(target.name, degraded[:16]).inc()
                target.count_degraded(time.time())
            return web.Response(body=payload, status=resp.status, headers=out)

    async def admin_state(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                dc: {
                    "healthy": h.healthy,
                    "away": h.away,
                    "url": h.url,
                    "transitions": h.transitions,
                    "away_transitions": h.away_transitions,
                    "degraded": list(h.degraded),
                }
                for dc, h in self.health.items()
            }
        )

    async def admin_health_checks(self, request: web.Request) -> web.Response:
        """``GET``: the DCs whose health checks are stopped; ``POST {"dc", "enabled"}``: switch one."""
        if request.method == "GET":
            return web.json_response({"stopped": sorted(self.unchecked)})
        try:
            body = await request.json()
        except ValueError:
            body = None
        dc = body.get("dc") if isinstance(body, dict) else None
        enabled = body.get("enabled") if isinstance(body, dict) else None
        if dc not in self.health or not isinstance(enabled, bool):
            known = ", ".join(self.order)
            return web.json_response(
                {"error": f'body must be {{"dc": one of {known}, "enabled": true|false}}'}, status=400
            )
        previous = dc not in self.unchecked
        if enabled:
            self.unchecked.discard(dc)
        else:
            self.unchecked.add(dc)
        self.m_checks.labels(dc).set(1 if enabled else 0)
        return web.json_response({"dc": dc, "previous": previous, "enabled": enabled})

    async def admin_away(self, request: web.Request) -> web.Response:
        """``{"dc": X, "away": bool}``: hold X's cells on the survivors, or let them go home."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        dc = body.get("dc") if isinstance(body, dict) else None
        away = body.get("away") if isinstance(body, dict) else None
        if dc not in self.health or not isinstance(away, bool):
            known = ", ".join(self.health)
            return web.json_response(
                {"error": f"unknown dc {dc!r} (known: {known}) or away not a boolean"}, status=400
            )
        h = self.health[dc]
        previous = h.away
        if away != previous:
            h.away = away
            h.away_transitions.append({"at": time.time(), "away": away})
            self.m_held.labels(dc).set(1 if away else 0)
        return web.json_response({"dc": dc, "previous": previous, "away": away, "healthy": h.healthy})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def on_started(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._refresh_urls()
        self._task = asyncio.get_running_loop().create_task(
            self._health_loop()
        )  # held: tasks are weakly referenced

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/generate", self.generate)
        app.router.add_get("/v1/session/{user}", self.read_session)
        app.router.add_post("/admin/away", self.admin_away)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/admin/state", self.admin_state)
        app.router.add_get("/admin/health-checks", self.admin_health_checks)
        app.router.add_post("/admin/health-checks", self.admin_health_checks)
        app.router.add_get("/metrics", metrics_handler(self.registry))
        return app


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill sandbox edge")
    ap.add_argument("--topology", required=True)
    ap.add_argument("--state", required=True, type=Path)
    args = ap.parse_args()
    topo = topology_from_dict(json.loads(args.topology))
    edge = Edge(list(topo.dcs), topo.edge, args.state)
    run_service(edge.app(), 0, edge.on_started)


if __name__ == "__main__":
    main()
