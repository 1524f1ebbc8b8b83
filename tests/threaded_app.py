"""An aiohttp application served on an ephemeral loopback port, from a thread with its own loop.

For tests whose subject is a real HTTP *service* (a team's own, say) that chaosdrill talks to,
while the test itself stays synchronous.
"""

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

__all__ = ["serve_app"]


@contextmanager
def serve_app(app: web.Application, name: str) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Serve ``app`` until the block ends; yields its base URL and the loop it runs on."""
    loop = asyncio.new_event_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    assert ready.wait(10), f"{name} did not start"
    try:
        yield f"http://127.0.0.1:{port}", loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        assert not thread.is_alive(), f"{name} did not stop"
