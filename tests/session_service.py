"""A small real HTTP service that speaks the session contract, with DCs a test can lose.

It stands in for the sandbox's edge (a test double of the *service*, not of chaosdrill code)
until the sandbox speaks the contract itself:

- a request with ``X-User`` and ``X-Chaosdrill-Seq: n`` is a session write; the 200 answer
  acknowledges it with ``X-Chaosdrill-Seq-Ack: n``;
- ``GET /v1/session/<user>`` answers ``{"user", "seq", "store"}`` (the latest stored n);
- every answer carries ``X-Chaosdrill-DC`` (serving DC) and ``X-Chaosdrill-Cell`` (home cell).

Users have a home cell (one per DC, ``dc1..dcN`` by a stable hash). :meth:`SessionService.lose_dc`
makes a DC go dark: its cell's requests get 503s for ``outage_s``, then are served by the next
DC from a promoted copy of the cell's store that lacks the cell's last ``lose_last``
acknowledged writes (asynchronous replication that had not caught up). :meth:`recover_dc` brings
it back: the cell stays on the survivor for ``failback_after_s``, then goes home, either with
the survivor's data (``resync``) or with the home store as it was when the DC died (the writes
acknowledged during the failover are lost). The service records every write it acknowledged
and every one it lost, so a test can compare them with what the load found.
"""

import asyncio
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from threaded_app import serve_app

__all__ = ["SessionService", "serve"]


def home_cell(user: str, n: int) -> str:
    return f"dc{int.from_bytes(hashlib.blake2b(user.encode(), digest_size=8).digest(), 'big') % n + 1}"


@dataclass
class _Cell:
    name: str
    store: dict[str, int] = field(default_factory=dict)  # what reads see now
    log: list[tuple[str, int]] = field(default_factory=list)  # acknowledged writes, in order
    serving: str = ""  # the DC that serves the cell now ("" while it is unreachable)
    home_store: dict[str, int] | None = None  # the dead DC's store, kept for a failback without resync
    acked_away: list[tuple[str, int]] = field(default_factory=list)  # acknowledged during the failover


class SessionService:
    """The service's state; every method runs on the service's own event loop thread."""

    def __init__(self, dcs: int = 3) -> None:
        self.n = dcs
        self.cells = {f"dc{i + 1}": _Cell(f"dc{i + 1}", serving=f"dc{i + 1}") for i in range(dcs)}
        self.lost: list[tuple[str, int]] = []  # (user, seq) acknowledged and then lost
        self.acked = 0
        self.down: set[str] = set()
        self.events: list[tuple[float, str]] = []

    def _next(self, dc: str) -> str:
        i = int(dc[2:]) % self.n + 1
        return f"dc{i}"

    # -- faults (called through SessionServer.call) -----------------------------------------
    def lose_dc(self, dc: str, lose_last: int, outage_s: float) -> None:
        cell = self.cells[dc]
        self.down.add(dc)
        cell.serving = ""
        kept = cell.log[: len(cell.log) - lose_last] if lose_last else list(cell.log)
        dropped = cell.log[len(kept) :]
        cell.home_store = dict(cell.store)
        promoted: dict[str, int] = {}
        for user, seq in kept:
            promoted[user] = seq
        # A dropped write is lost only if no later kept write of the same user covers it.
        for user, seq in dropped:
            if promoted.get(user, 0) < seq:
                self.lost.append((user, seq))
        cell.store = promoted
        self.events.append((time.time(), f"{dc} down"))
        asyncio.get_running_loop().call_later(outage_s, self._fail_over, dc)

    def _fail_over(self, dc: str) -> None:
        if dc in self.down:
            self.cells[dc].serving = self._next(dc)
            self.events.append((time.time(), f"{dc} failed over"))

    def roll_back(self, dc: str, last: int) -> None:
        """Silently drop the cell's last ``last`` acknowledged writes (no error, no DC change):
        a loss only a read-back can find."""
        cell = self.cells[dc]
        kept, dropped = cell.log[: len(cell.log) - last], cell.log[len(cell.log) - last :]
        cell.log = kept
        latest: dict[str, int] = {}
        for user, seq in kept:
            latest[user] = seq
        for user, seq in dropped:
            if latest.get(user, 0) < seq:
                self.lost.append((user, seq))
            if user in latest:
                cell.store[user] = latest[user]
            else:
                cell.store.pop(user, None)

    def recover_dc(self, dc: str, failback_after_s: float, resync: bool) -> None:
        self.down.discard(dc)
        self.events.append((time.time(), f"{dc} back"))
        asyncio.get_running_loop().call_later(failback_after_s, self._fail_back, dc, resync)

    def _fail_back(self, dc: str, resync: bool) -> None:
        cell = self.cells[dc]
        if not resync and cell.home_store is not None:
            for user, seq in cell.acked_away:
                if cell.home_store.get(user, 0) < seq:
                    self.lost.append((user, seq))
            cell.store = cell.home_store
        cell.home_store = None
        cell.acked_away = []
        cell.serving = dc
        self.events.append((time.time(), f"{dc} failed back"))

    # -- HTTP --------------------------------------------------------------------------------
    def _headers(self, cell: _Cell, dc: str) -> dict[str, str]:
        return {"X-Chaosdrill-DC": dc, "X-Chaosdrill-Cell": cell.name}

    async def write(self, request: web.Request) -> web.Response:
        await request.read()
        user = request.headers.get("X-User", "")
        cell = self.cells[home_cell(user, self.n)]
        if not cell.serving:
            return web.json_response({"error": "no DC"}, status=503, headers=self._headers(cell, cell.name))
        headers = self._headers(cell, cell.serving)
        raw = request.headers.get("X-Chaosdrill-Seq")
        if raw is None:
            return web.json_response({"text": "hello"}, headers=headers)
        seq = int(raw)
        cell.store[user] = seq
        cell.log.append((user, seq))
        if cell.serving != cell.name:
            cell.acked_away.append((user, seq))
        self.acked += 1
        return web.json_response({"text": "hello"}, headers={**headers, "X-Chaosdrill-Seq-Ack": str(seq)})

    async def read(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        cell = self.cells[home_cell(user, self.n)]
        if not cell.serving:
            return web.json_response({"error": "no DC"}, status=503, headers=self._headers(cell, cell.name))
        doc = {"user": user, "seq": cell.store.get(user), "store": cell.serving}
        return web.json_response(doc, headers=self._headers(cell, cell.serving))

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/v1/session/{user}", self.read), web.post("/v1/generate", self.write)])
        return app


class SessionServer:
    """A :class:`SessionService` on a loopback port, in a thread with its own event loop."""

    def __init__(self, service: SessionService, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.service = service
        self.loop = loop
        self.url = url

    def call(self, method: str, *args: object) -> None:
        """Run one of the service's fault methods on its loop, and wait for it."""

        async def run() -> None:
            getattr(self.service, method)(*args)

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)


@contextmanager
def serve(dcs: int = 3) -> Iterator[SessionServer]:
    svc = SessionService(dcs)
    with serve_app(svc.app(), "session-service") as (url, loop):
        yield SessionServer(svc, loop, url)
