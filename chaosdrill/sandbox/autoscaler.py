"""The autoscaler: every period, the HPA algorithm per AZ pool, applied by the supervisor.

``POST /admin/paused {"dc": "dc1", "paused": true}`` stops its decisions for that DC's pools
(they keep the replicas they have) until it is posted ``false``: the ``autoscaler_paused``
fault, a drill of "what if the HPA were not there?". Exported as ``autoscaler_paused{dc}``.

It reads each live replica's utilization (busy slot-seconds, the sandbox's CPU)
directly, not through toxiproxy: metrics collection is not the data path, just as
metrics-server does not go through a Service.
"""

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from chaosdrill.sandbox.hpa import Recommender, desired_replicas
from chaosdrill.sandbox.service import metrics_handler, run_service
from chaosdrill.sandbox.state import read_state
from chaosdrill.sandbox.topology import AutoscalerSpec, topology_from_dict

__all__ = ["Autoscaler", "main"]


class Autoscaler:
    def __init__(self, spec: AutoscalerSpec, state_file: Path, dcs: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.state_file = state_file
        self.recommenders: dict[str, Recommender] = {}
        self.decisions: list[dict[str, Any]] = []
        self.dcs = dcs
        self.paused: set[str] = set()  # DCs whose pools a drill has taken from the autoscaler
        self.session: aiohttp.ClientSession | None = None
        reg = self.registry = CollectorRegistry()
        self.m_util = Gauge(
            "autoscaler_utilization", "Average utilization of ready replicas", ["pool"], registry=reg
        )
        self.m_desired = Gauge("autoscaler_desired_replicas", "HPA recommendation", ["pool"], registry=reg)
        self.m_paused = Gauge(
            "autoscaler_paused", "1 while a drill has paused the autoscaler for a DC", ["dc"], registry=reg
        )
        for dc in dcs:
            self.m_paused.labels(dc).set(0)

    async def _utilization(self, port: int) -> float | None:
        assert self.session is not None
        try:
            async with self.session.get(
                f"http://127.0.0.1:{port}/stats", timeout=aiohttp.ClientTimeout(total=0.5)
            ) as resp:
                data = await resp.json()
                return float(data["utilization"])
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            return None  # not ready: the HPA leaves unready pods out of the average

    async def step(self) -> None:
        state = read_state(self.state_file)
        if state is None or not state.get("ready"):
            return
        assert self.session is not None
        for dc, info in state["dcs"].items():
            for az, pool in info["azs"].items():
                if pool.get("held"):
                    continue  # an AZ outage holds the pool at zero; the HPA must not fight it
                if dc in self.paused:
                    continue  # paused by a drill: no decision, the pool keeps what it has
                name = f"{dc}/{az}"
                ports = [r["port"] for s in pool["slots"] if (r := s["replica"])]
                samples = [
                    u for u in await asyncio.gather(*(self._utilization(p) for p in ports)) if u is not None
                ]
                current = int(pool["desired"])
                if not samples:
                    continue
                util = sum(samples) / len(samples)
                raw = desired_replicas(
                    current,
                    util,
                    self.spec.target_utilization,
                    self.spec.tolerance,
                    self.spec.min_replicas,
                    self.spec.max_replicas,
                )
                rec = self.recommenders.setdefault(name, Recommender(self.spec.scale_down_stabilization_s))
                desired = rec.recommend(time.monotonic(), raw, current)
                self.m_util.labels(name).set(util)
                self.m_desired.labels(name).set(desired)
                if desired != current:
                    await self._apply(state["supervisor"]["api"], dc, az, desired)
                    self.decisions.append(
                        {"at": time.time(), "pool": name, "from": current, "to": desired, "utilization": util}
                    )
                    del self.decisions[:-200]

    async def _apply(self, api: str, dc: str, az: str, replicas: int) -> None:
        assert self.session is not None
        try:
            async with self.session.post(
                f"{api}/scale", json={"dc": dc, "az": az, "replicas": replicas, "by": "autoscaler"}
            ) as resp:
                await resp.read()
        except aiohttp.ClientError:
            pass  # the supervisor is restarting or shutting down; next period retries

    async def _loop(self) -> None:
        while True:
            if self.spec.enabled:
                with contextlib.suppress(OSError, KeyError, ValueError):
                    await self.step()
            await asyncio.sleep(self.spec.period_s)

    async def admin_state(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"enabled": self.spec.enabled, "paused": sorted(self.paused), "decisions": self.decisions}
        )

    async def admin_paused(self, request: web.Request) -> web.Response:
        """Pause or resume the decisions for one DC; answers its previous and current setting."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        dc = body.get("dc") if isinstance(body, dict) else None
        paused = body.get("paused") if isinstance(body, dict) else None
        if dc not in self.dcs or not isinstance(paused, bool):
            known = ", ".join(self.dcs)
            return web.json_response(
                {"error": f'body must be {{"dc": one of {known}, "paused": true|false}}'}, status=400
            )
        previous = dc in self.paused
        if paused:
            self.paused.add(dc)
        else:
            self.paused.discard(dc)
        self.m_paused.labels(dc).set(1 if paused else 0)
        return web.json_response({"dc": dc, "previous": previous, "paused": paused})

    async def on_started(self) -> None:
        self.session = aiohttp.ClientSession()
        self._task = asyncio.get_running_loop().create_task(self._loop())  # held: tasks are weakly referenced

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/admin/state", self.admin_state)
        app.router.add_post("/admin/paused", self.admin_paused)
        app.router.add_get("/metrics", metrics_handler(self.registry))
        return app


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill sandbox autoscaler")
    ap.add_argument("--topology", required=True)
    ap.add_argument("--state", required=True, type=Path)
    args = ap.parse_args()
    topo = topology_from_dict(json.loads(args.topology))
    scaler = Autoscaler(topo.autoscaler, args.state, tuple(topo.dcs))
    run_service(scaler.app(), 0, scaler.on_started)


if __name__ == "__main__":
    main()
