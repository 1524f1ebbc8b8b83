"""What every sandbox process shares: binding an ephemeral port, telling the supervisor
which one, dying with the supervisor, stopping cleanly on SIGTERM, and serving /metrics.

A component prints exactly one line ``READY <port>`` on stdout once it listens; the
supervisor reads it, so no port is ever fixed in advance.
"""

import asyncio
import ctypes
import signal
import sys
import typing
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["bound_port", "die_with_parent", "metrics_handler", "run_service"]

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux prctl).

    This is what makes ``kill -9`` of the supervisor leave no orphan behind.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's process group kill still applies
        pass


def bound_port(site: web.TCPSite) -> int:
    """The port the kernel gave a site bound to port 0."""
    server = typing.cast(asyncio.Server | None, site._server)
    assert server is not None and server.sockets
    port: int = server.sockets[0].getsockname()[1]
    return port


def metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


def run_service(
    app: web.Application, port: int = 0, on_started: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Serve ``app`` on 127.0.0.1:port (0 = ephemeral) until SIGTERM/SIGINT."""
    die_with_parent()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        pass

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True, backlog=1024)
        await site.start()
        bound = bound_port(site)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if on_started is not None:
            await on_started()
        sys.stdout.write(f"READY {bound}\n")
        sys.stdout.flush()
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
