"""The webhook receiver Alertmanager notifies: every notification, with its receive time, on disk.

Time to notify is measured from the fault to the moment a notification *arrives*, so the
receiver stamps each one as it comes in and appends it as one JSON line (``received_at``,
``path``, ``payload``), fsync'd, to a file in the sandbox home. The path says the tier
(``/p0``, ``/p1``, from the shipped Alertmanager routing). ``chaosdrill.drivers.notifications``
reads the file back. Like every sandbox process it prints ``READY <port>`` and dies with the
supervisor.
"""

import argparse
import json
import os
import time
from pathlib import Path
from typing import IO

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from chaosdrill.sandbox.service import metrics_handler, run_service

__all__ = ["WebhookReceiver", "main"]


class WebhookReceiver:
    def __init__(self, out: Path) -> None:
        self.out = out
        self._fh: IO[str] | None = None
        reg = self.registry = CollectorRegistry()
        self.m_received = Counter(
            "chaosdrill_webhook_notifications_total",
            "Alertmanager notifications received, by path and status",
            ["path", "status"],
            registry=reg,
        )

    def _file(self) -> IO[str]:
        if self._fh is None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.out, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the service
        return self._fh

    def record(self, path: str, payload: object, received_at: float) -> None:
        line = json.dumps({"received_at": received_at, "path": path, "payload": payload}, sort_keys=True)
        fh = self._file()
        fh.write(line + "\n")  # one write per line: a reader never sees two notifications interleaved
        fh.flush()
        os.fsync(fh.fileno())

    async def receive(self, request: web.Request) -> web.Response:
        received_at = time.time()
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response(
                {"error": "the body must be JSON (Alertmanager's webhook payload)"}, status=400
            )
        self.record(request.path, payload, received_at)
        status = payload.get("status", "") if isinstance(payload, dict) else ""
        self.m_received.labels(request.path, str(status)).inc()
        return web.json_response({"recorded": True})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", metrics_handler(self.registry))
        app.router.add_post("/{tier:.*}", self.receive)
        return app


def main() -> None:
    ap = argparse.ArgumentParser(description="chaosdrill's Alertmanager webhook receiver")
    ap.add_argument("--out", required=True, type=Path, help="JSON Lines file to append notifications to")
    args = ap.parse_args()
    run_service(WebhookReceiver(args.out).app())


if __name__ == "__main__":
    main()
