"""The load worker process: ``python -m chaosdrill.load.worker --profile FILE --out DIR [--endpoints FILE]``.

Load runs in its own process so that the Chaos Toolkit runner (which blocks in probes and
actions) never delays a scheduled request, and so that the generator gets a core of its
own. Because a stray load generator is itself an outage, the worker must never outlive
the run: it asks the kernel to SIGTERM it when its parent dies (``PR_SET_PDEATHSIG``),
it stops by itself at ``duration_s``, and on SIGTERM/SIGINT it stops scheduling, gives
in-flight requests a short grace and flushes its last (partial) window before exiting.

It serves a tiny control API on 127.0.0.1 (ephemeral port): ``GET /status``,
``POST /factor`` ``{"stream": glob, "factor": x}``, ``POST /verify`` (read every session
user back before its next write) and ``POST /stop``, and advertises it
in ``<out>/load.json`` and in ``chaosdrill.paths.home()/load/current.json``.

Without ``--endpoints`` it speaks the sandbox's contract at the profile's URL; with an
endpoints file (request templates and outcome rules) it loads any HTTP service.
"""

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from chaosdrill import paths
from chaosdrill.errors import BadInput, ChaosdrillError
from chaosdrill.load.engine import Engine, resolve_target
from chaosdrill.load.profile import Profile, load_profile
from chaosdrill.load.recorder import Recorder, StreamInfo
from chaosdrill.load.template import Endpoints, load_endpoints

__all__ = [
    "HANDLE_FILE",
    "MEASUREMENTS_FILE",
    "SESSIONS_FILE",
    "current_file",
    "main",
    "run",
    "write_json_atomic",
]

HANDLE_FILE = "load.json"
MEASUREMENTS_FILE = "measurements.jsonl"
SESSIONS_FILE = "sessions.json"
FINAL_READS_S = 5.0  # the end-of-run read-back of session users waits at most this long
PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 1.0

log = logging.getLogger("chaosdrill.load.worker")


def current_file() -> Path:
    return paths.home() / "load" / "current.json"


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGTERM us when the parent goes; exit now if it already went."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if parent_pid is not None and os.getppid() != parent_pid:
        sys.exit(0)  # the parent died before prctl took effect


class _Worker:
    def __init__(self, profile: Profile, out_dir: Path, endpoints: Endpoints | None = None) -> None:
        self.profile = profile
        self.endpoints = endpoints
        self.url = profile.url if endpoints is None else endpoints.base_url
        self.out_dir = out_dir
        self.measurements = out_dir / MEASUREMENTS_FILE
        self.handle_path = out_dir / HANDLE_FILE
        self.stop_requested = asyncio.Event()
        self.state = "starting"
        self.control_url = ""
        self.started = time.time()
        target = resolve_target(self.url)
        self.engine = Engine(profile, target, self._recorder, endpoints)

    def _recorder(self, engine: Engine) -> Recorder:
        infos = [StreamInfo(s.name, s.tenant, s.priority.value) for s in self.profile.streams]
        meta = self.profile.to_dict()
        if self.endpoints is not None:
            meta["endpoints"] = self.endpoints.to_dict()
        return Recorder(
            self.measurements,
            infos,
            window_s=self.profile.window_s,
            start=time.time(),
            meta=meta,
            target_rates=engine.target_rates,
            track_served_by=engine.classifier.served_by_needle is not None,
            track_cells=engine.track_cells,
            session_streams=[i for i, s in enumerate(engine.streams) if s.book is not None],
        )

    # -- control API ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        e = self.engine
        totals = e.recorder.totals()
        elapsed = time.monotonic() - e.started_mono if e.started_mono else 0.0
        return {
            "pid": os.getpid(),
            "state": self.state,
            "url": self.url,
            "elapsed_s": round(elapsed, 3),
            "duration_s": self.profile.duration_s,
            "scheduled": e.scheduled,
            "completed": e.completed,
            "in_flight": len(e.busy),
            "queued": len(e.pending),
            "connections": e.connections,
            "session": e.session_status(),
            "measurements": str(self.measurements),
            "streams": {
                s.stream.name: {
                    "tenant": s.stream.tenant,
                    "priority": s.stream.priority.value,
                    "base_rate": s.base_rate,
                    "factor": s.factor,
                    "target_rate": s.rate,
                    **totals[s.stream.name],
                }
                for s in e.streams
            },
        }

    async def _get_status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def _post_factor(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        pattern, factor = body.get("stream", "*"), body.get("factor")
        if not isinstance(pattern, str) or isinstance(factor, bool) or not isinstance(factor, int | float):
            return web.json_response({"error": "need {'stream': str, 'factor': number}"}, status=400)
        try:
            matched = self.engine.set_factor(pattern, float(factor))
        except BadInput as e:
            status = 404 if e.field == "stream" else 400
            return web.json_response({"error": str(e), "field": e.field}, status=status)
        log.info("factor %s -> %s for %s", pattern, factor, matched)
        rates = {s.stream.name: s.rate for s in self.engine.streams}
        return web.json_response({"matched": matched, "factor": float(factor), "target_rates": rates})

    async def _post_verify(self, _request: web.Request) -> web.Response:
        marked = self.engine.verify_sessions()
        return web.json_response({"marked": marked, **self.engine.session_status()})

    async def _post_stop(self, _request: web.Request) -> web.Response:
        self.stop_requested.set()
        return web.json_response({"stopping": True, "pid": os.getpid()})

    async def _final_reads(self) -> None:
        """Read every session user back once more (the end-of-run check), then write each
        user's last acknowledged write to ``sessions.json``."""
        books = {s.stream.name: s.book for s in self.engine.streams if s.book is not None}
        if not books:
            return
        sent = await self.engine.final_reads(min(FINAL_READS_S, self.profile.timeout_s))
        log.info("session read-back at the end: %d users", sent)
        doc = {"streams": {name: book.snapshot() for name, book in books.items()}}
        write_json_atomic(self.out_dir / SESSIONS_FILE, doc)

    # -- lifecycle --------------------------------------------------------------------------
    def _advertise(self) -> None:
        doc = {
            "pid": os.getpid(),
            "control_url": self.control_url,
            "measurements": str(self.measurements.resolve()),
            "out_dir": str(self.out_dir.resolve()),
            "started": self.started,
            "state": self.state,
        }
        write_json_atomic(self.handle_path, doc)
        if self.state == "running":
            write_json_atomic(current_file(), doc)

    def _unadvertise(self) -> None:
        cur = current_file()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(cur.read_text(encoding="utf-8")).get("pid") == os.getpid():
                cur.unlink()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_requested.set)
        app = web.Application()
        app.add_routes(
            [
                web.get("/status", self._get_status),
                web.post("/factor", self._post_factor),
                web.post("/verify", self._post_verify),
                web.post("/stop", self._post_stop),
            ]
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self.control_url = f"http://127.0.0.1:{port}"
        try:
            self.state = "running"
            self.engine.start()
            self._advertise()
            drained = asyncio.ensure_future(self.engine.wait_drained())
            stop = asyncio.ensure_future(self.stop_requested.wait())
            await asyncio.wait({drained, stop}, return_when=asyncio.FIRST_COMPLETED)
            self.state = "stopping"
            if not drained.done():
                self.engine.stop_scheduling()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(drained, timeout=min(STOP_GRACE_S, self.profile.timeout_s))
            for fut in (drained, stop):
                fut.cancel()
            await self._final_reads()
            self.engine.shutdown()
        finally:
            self.engine.recorder.close(time.time())
            self.state = "finished"
            self._unadvertise()
            self._advertise()
            await runner.cleanup()


def run(profile: Profile, out_dir: Path, endpoints: Endpoints | None = None) -> None:
    """Run the load in this process until it ends or is stopped (blocking)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay usable without it
        runner = asyncio.run

    async def main() -> None:
        await _Worker(profile, out_dir, endpoints).run()

    runner(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaosdrill.load.worker", description=__doc__)
    parser.add_argument("--profile", required=True, type=Path, help="profile file (YAML or JSON)")
    parser.add_argument("--out", required=True, type=Path, help="directory for measurements.jsonl")
    parser.add_argument(
        "--endpoints", type=Path, default=None, help="request templates and outcome rules (YAML or JSON)"
    )
    parser.add_argument("--parent-pid", type=int, default=None, help="exit if this is no longer the parent")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    die_with_parent(args.parent_pid)
    try:
        endpoints = None if args.endpoints is None else load_endpoints(args.endpoints)
        run(load_profile(args.profile), args.out, endpoints)
    except ChaosdrillError as e:
        print(f"chaosdrill load worker: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
