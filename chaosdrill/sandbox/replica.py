"""A replica: simulated LLM inference with fixed concurrency slots and a bounded queue.

The point of the model is the overload behaviour from the seed article: once every
slot is busy and the queue is full, the replica answers 503 "server busy" at once
rather than queueing without bound. Utilization (busy slot-seconds per second) is
exposed on /stats for the autoscaler, standing in for CPU.
"""

import argparse
import asyncio
import random
import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chaosdrill.sandbox.service import metrics_handler, run_service
from chaosdrill.sandbox.topology import ReplicaSpec

__all__ = ["Replica", "build_app", "main"]


class Replica:
    def __init__(self, name: str, spec: ReplicaSpec, seed: int | None = None) -> None:
        self.name = name
        self.spec = spec
        self._rng = random.Random(seed)
        self._slots = asyncio.Semaphore(spec.slots)
        self._waiting = 0
        self._busy = 0
        self._busy_area = 0.0  # integral of busy slots over time
        self._area_stamp = time.monotonic()
        self._last_sample = (time.monotonic(), 0.0)
        reg = self.registry = CollectorRegistry()
        self.m_requests = Counter("replica_requests_total", "Requests by status", ["code"], registry=reg)
        self.m_busy = Gauge("replica_busy_slots", "Slots serving now", registry=reg)
        self.m_queue = Gauge("replica_queue_depth", "Requests waiting for a slot", registry=reg)
        self.m_service = Histogram("replica_service_seconds", "Simulated inference time", registry=reg)

    def _account(self, delta: int) -> None:
        now = time.monotonic()
        self._busy_area += self._busy * (now - self._area_stamp)
        self._area_stamp = now
        self._busy += delta
        self.m_busy.set(self._busy)

    def utilization(self) -> float:
        """Average busy fraction of the slots since the previous call (the HPA's CPU)."""
        self._account(0)
        now = time.monotonic()
        last_t, last_area = self._last_sample
        self._last_sample = (now, self._busy_area)
        elapsed = max(1e-6, now - last_t)
        return (self._busy_area - last_area) / (elapsed * self.spec.slots)

    def service_time(self, max_tokens: int) -> float:
        base = self._rng.lognormvariate(0.0, self.spec.service_ms_sigma) * self.spec.service_ms_median
        return (base + self.spec.per_token_ms * max_tokens) / 1000.0

    async def generate(self, request: web.Request) -> web.Response:
        if self._slots.locked() and self._waiting >= self.spec.queue:
            self.m_requests.labels("503").inc()
            return web.json_response(
                {"error": "server busy", "replica": self.name}, status=503, headers={"Retry-After": "1"}
            )
        try:
            body = await request.json()
            max_tokens = int(body.get("max_tokens", 16))
            prompt = str(body.get("prompt", ""))
        except (ValueError, TypeError, AttributeError):
            self.m_requests.labels("400").inc()
            return web.json_response({"error": "body must be JSON with prompt and max_tokens"}, status=400)
        self._waiting += 1
        self.m_queue.set(self._waiting)
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.m_queue.set(self._waiting)
        self._account(+1)
        try:
            took = self.service_time(max_tokens)
            await asyncio.sleep(took)
            self.m_service.observe(took)
        finally:
            self._account(-1)
            self._slots.release()
        self.m_requests.labels("200").inc()
        text = f"[{self.name}] completion of {len(prompt)} chars in {max_tokens} tokens"
        return web.json_response({"text": text, "replica": self.name, "tokens": max_tokens})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"name": self.name, "utilization": self.utilization(), "busy": self._busy, "queue": self._waiting}
        )


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(replica: Replica) -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/generate", replica.generate)
    app.router.add_get("/stats", replica.stats)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", metrics_handler(replica.registry))
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill sandbox replica")
    ap.add_argument("--name", required=True)
    ap.add_argument("--spec", required=True, help="ReplicaSpec as JSON")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    import json

    spec = ReplicaSpec(**json.loads(args.spec))
    run_service(build_app(Replica(args.name, spec)), args.port)


if __name__ == "__main__":
    main()
