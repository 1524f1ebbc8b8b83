"""The open-model scheduler: requests leave on a fixed timetable, whatever the server does.

A closed-model tool (a fixed number of users, each waiting for its answer before asking
again) slows down when the server slows down, so a stall hides itself: fewer requests
are sent, and the ones not sent never record their would-be latency. Here each stream
schedules request *i* at ``anchor + (i - anchor_i) / rate``; when no connection is free
the request waits in a queue, and its latency still counts from the scheduled time.

The engine is callback-driven (one timer for the schedule, one sweeper for timeouts, no
task per request) because that is what lets one Python process keep up with tens of
thousands of requests a second. A surge changes a stream's factor; the timetable is
re-anchored at that moment, so the new rate applies from then on.
"""

import asyncio
import contextlib
import fnmatch
import math
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chaosdrill.errors import BadInput
from chaosdrill.load.client import Connection, Request
from chaosdrill.load.outcome import SANDBOX_CLASSIFIER, Classifier, ErrorReason, Outcome, Verdict
from chaosdrill.load.profile import Profile, Stream, UserSelection
from chaosdrill.load.recorder import Recorder
from chaosdrill.load.render import StreamRequests, read_requests_for, requests_for
from chaosdrill.load.session import SessionBook, run_base
from chaosdrill.load.template import SANDBOX_RULES, Endpoints

__all__ = ["Engine", "Target", "resolve_target"]

IDLE_REUSE_S = 4.0  # don't reuse a connection idle for longer; servers close idle keep-alives
PAYLOAD_CACHE_USERS = 4096
MIN_TICK_S = 0.001
MAX_LEARNED_CELLS = 1_000_000  # users per stream whose home cell is remembered (for failed requests)
_TIMEOUT = Verdict(Outcome.ERROR, ErrorReason.TIMEOUT)


@dataclass(frozen=True)
class Target:
    """Where requests go: resolved once, so no request pays for DNS."""

    host: str
    port: int
    address: str
    path: str
    ssl: ssl.SSLContext | None

    @property
    def host_header(self) -> str:
        default = 443 if self.ssl else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def resolve_target(url: str) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise BadInput("<profile>", "url", f"cannot resolve host {host!r}: {e}") from e
    address = str(infos[0][4][0])
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(host, port, address, path, ssl.create_default_context() if secure else None)


class _StreamState:
    """A stream's timetable and its request-building state."""

    __slots__ = (
        "anchor_i",
        "anchor_t",
        "base_rate",
        "book",
        "cells",
        "factor",
        "index",
        "next_t",
        "payloads",
        "pick",
        "read_render",
        "render",
        "stream",
    )

    def __init__(self, stream: Stream, requests: StreamRequests, reads: StreamRequests | None = None) -> None:
        self.stream = stream
        self.render = requests.render
        # A session stream: per-user sequence numbers, and a read-back before a suspect write.
        self.book = SessionBook(stream.users, run_base(time.time())) if reads is not None else None
        self.read_render = reads.render if reads is not None else None
        # Each user's home cell as last answered, so a request that got no answer still counts
        # against its cell (with cell tracking on).
        self.cells: dict[int, bytes] = {}
        self.base_rate = stream.rate
        self.factor = 1.0
        self.index = 0
        self.anchor_i = 0
        self.anchor_t = 0.0
        self.next_t = math.inf
        # Requests that differ only by user are built once per user (up to a cache size);
        # with {seq} in the template every request is rendered as it is scheduled.
        cached = 0 if requests.uses_seq or reads is not None else min(stream.users, PAYLOAD_CACHE_USERS)
        if requests.uses_user:
            self.payloads = [requests.render(u, 0) for u in range(cached)]
        else:
            self.payloads = [requests.render(0, 0)] * cached
        users = stream.users
        if stream.user_selection is UserSelection.RANDOM:
            rng = random.Random(stream.seed)
            self.pick: Callable[[int], int] = lambda _i: rng.randrange(users)
        else:
            self.pick = lambda i: i % users

    @property
    def rate(self) -> float:
        return self.base_rate * self.factor

    def anchor(self, now: float) -> None:
        """Restart the timetable at ``now`` with the current rate."""
        self.anchor_i = self.index
        self.anchor_t = now
        rate = self.rate
        self.next_t = now if rate > 0 else math.inf

    def advance(self) -> None:
        self.index += 1
        rate = self.rate
        self.next_t = self.anchor_t + (self.index - self.anchor_i) / rate if rate > 0 else math.inf


class Engine:
    """Runs one profile against one target, feeding a :class:`Recorder`.

    Times inside are ``time.monotonic()``; the recorder gets epoch seconds through a
    fixed offset taken at start, so windows line up with wall-clock time for reports.
    Without ``endpoints`` it speaks the sandbox's contract at the target's path; with them,
    each stream sends its request template and answers are judged by their outcome rules.
    """

    def __init__(
        self,
        profile: Profile,
        target: Target,
        recorder_factory: Callable[["Engine"], Recorder],
        endpoints: Endpoints | None = None,
    ):
        self.profile = profile
        self.target = target
        self.endpoints = endpoints
        tracking = profile.tracking
        self.tracking = tracking
        if tracking is not None:
            self.classifier: Classifier = Classifier(
                SANDBOX_RULES if endpoints is None else endpoints.outcomes,
                served_by=tracking.served_by,
                cell=tracking.cell,
                seq_ack=tracking.seq_ack,
            )
        else:
            self.classifier = SANDBOX_CLASSIFIER if endpoints is None else Classifier(endpoints.outcomes)
        self.track_cells = tracking is not None and tracking.cell is not None
        requests = requests_for(profile, target.host_header, target.path, endpoints)
        reads = read_requests_for(profile, target.host_header, target.path, endpoints)
        self.streams = [
            _StreamState(s, r, rd) for s, r, rd in zip(profile.streams, requests, reads, strict=True)
        ]
        self.recorder = recorder_factory(self)
        self.pending: deque[Request] = deque()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.connections = 0
        self.scheduled = 0
        self.completed = 0
        self.offset = time.time() - time.monotonic()
        self.started_mono = 0.0
        self.end_mono = math.inf
        self.scheduling = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._drained: asyncio.Event | None = None
        self._sweep_every = min(0.1, profile.timeout_s / 4)

    # -- rates --------------------------------------------------------------------------
    def target_rates(self) -> list[float]:
        return [s.rate for s in self.streams]

    def set_factor(self, pattern: str, factor: float) -> list[str]:
        """Multiply matching streams' base rate by ``factor`` from now on; returns their names."""
        if not math.isfinite(factor) or factor < 0 or factor > 1000:
            raise BadInput("<load control>", "factor", f"must be between 0 and 1000, got {factor!r}")
        matched = [s for s in self.streams if fnmatch.fnmatchcase(s.stream.name, pattern)]
        if not matched:
            names = ", ".join(s.stream.name for s in self.streams)
            raise BadInput("<load control>", "stream", f"{pattern!r} matches no stream (streams: {names})")
        now = time.monotonic()
        for s in matched:
            s.factor = factor
            if self.scheduling:
                s.anchor(now)
        if self.scheduling:
            self._reschedule()
        return [s.stream.name for s in matched]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._drained = asyncio.Event()
        now = time.monotonic()
        self.started_mono = now
        self.end_mono = now + self.profile.duration_s
        self.scheduling = True
        for s in self.streams:
            s.anchor(now)
        self._tick()
        self._sweep_handle = self._loop.call_later(self._sweep_every, self._sweep)

    async def run(self) -> None:
        """Run the whole profile: schedule until duration (or max_requests), then drain."""
        self.start()
        await self.wait_drained()

    async def wait_drained(self) -> None:
        assert self._drained is not None
        await self._drained.wait()

    def stop_scheduling(self) -> None:
        self.scheduling = False
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        self._check_drained()

    async def stop(self, grace_s: float) -> None:
        """Stop scheduling, give in-flight requests ``grace_s`` to finish, then drop the rest."""
        self.stop_scheduling()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait_drained(), timeout=grace_s)
        self.shutdown()

    def shutdown(self) -> None:
        """Drop everything still outstanding and close every connection."""
        self.scheduling = False
        for handle in (self._tick_handle, self._sweep_handle):
            if handle is not None:
                handle.cancel()
        self._tick_handle = self._sweep_handle = None
        self.pending.clear()
        for conn in [*self.busy, *self.idle]:
            conn.abort()
        self.busy.clear()
        self.idle.clear()
        if self._drained is not None:
            self._drained.set()

    # -- sessions -------------------------------------------------------------------------
    def verify_sessions(self) -> int:
        """Have every session user with unverified writes read back before its next write;
        returns how many users were marked."""
        return sum(s.book.mark_all() for s in self.streams if s.book is not None)

    def session_status(self) -> dict[str, int]:
        """Read-backs still due, and acknowledged writes found lost so far, over all session streams."""
        books = [s.book for s in self.streams if s.book is not None]
        return {
            "pending_reads": sum(b.pending for b in books),
            "lost": sum(b.lost_total for b in books),
            "unverified_dropped": sum(b.unverified_dropped for b in books),
        }

    async def final_reads(self, timeout_s: float) -> int:
        """Once scheduling has stopped: read back, now, every session user with unverified
        writes, and wait up to ``timeout_s`` for the answers. Returns how many reads went out."""
        assert self._loop is not None and self._drained is not None
        now = time.monotonic()
        sent = 0
        for idx, s in enumerate(self.streams):
            book, read = s.book, s.read_render
            if book is None or read is None:
                continue
            users = book.to_verify()
            for user in users:
                book.read_started(user, now + self.offset)
                self._dispatch((idx, now, read(user, 0), user, -1))
            if users:
                self.recorder.sent(idx, now + self.offset, len(users))
            sent += len(users)
        if sent:
            self.scheduled += sent
            self._drained.clear()
            if self._sweep_handle is None:
                self._sweep_handle = self._loop.call_later(self._sweep_every, self._sweep)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_drained(), timeout=timeout_s)
        return sent

    @property
    def in_flight(self) -> int:
        return len(self.busy) + len(self.pending)

    def _check_drained(self) -> None:
        if not self.scheduling and not self.busy and not self.pending and self._drained is not None:
            self._drained.set()
            if self._sweep_handle is not None:
                self._sweep_handle.cancel()
                self._sweep_handle = None

    # -- the timetable ----------------------------------------------------------------------
    def _reschedule(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._tick()

    def _tick(self) -> None:
        self._tick_handle = None
        if not self.scheduling:
            return
        now = time.monotonic()
        cap = self.profile.max_requests
        end = self.end_mono
        horizon = min(now, end)
        offset = self.offset
        recorder = self.recorder
        dispatch = self._dispatch
        limit = math.inf if cap is None else cap
        scheduled = self.scheduled
        for idx, s in enumerate(self.streams):
            t = s.next_t
            if t > horizon or t >= end or scheduled >= limit:
                continue
            rate = s.rate
            payloads = s.payloads
            n_cached = len(payloads)
            pick = s.pick
            render = s.render
            i, anchor_i, anchor_t = s.index, s.anchor_i, s.anchor_t
            first = scheduled
            book = s.book
            while t <= horizon and t < end and scheduled < limit:
                user = pick(i)
                if book is None:
                    payload = payloads[user] if user < n_cached else render(user, i)
                    dispatch((idx, t, payload, user, 0))
                elif book.wants_read(user):
                    assert s.read_render is not None
                    book.read_started(user, now + offset)
                    dispatch((idx, t, s.read_render(user, 0), user, -1))
                else:
                    seq = book.next_write(user)
                    dispatch((idx, t, render(user, seq), user, seq))
                scheduled += 1
                i += 1
                t = anchor_t + (i - anchor_i) / rate
            s.index, s.next_t = i, t
            recorder.sent(idx, now + offset, scheduled - first)
        self.scheduled = scheduled
        if (cap is not None and self.scheduled >= cap) or now >= end:
            self.stop_scheduling()
            return
        nxt = min(min(s.next_t for s in self.streams), end)
        assert self._loop is not None
        # Waking more often than every MIN_TICK_S only spins the loop (its timers have 1 ms
        # resolution anyway); requests due in between go out together, late by under a tick,
        # and that lateness is part of their measured latency.
        self._tick_handle = self._loop.call_later(max(MIN_TICK_S, nxt - time.monotonic()), self._tick)

    # -- connections ------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if time.monotonic() - conn.idle_since > IDLE_REUSE_S:
                conn.close()
                self.connections -= 1
                continue
            self.busy.add(conn)
            conn.send(request)
            return
        if self.connections < self.profile.max_in_flight:
            self._open(request)
        else:
            self.pending.append(request)

    def _open(self, request: Request) -> None:
        conn = Connection(self, self.classifier)
        conn.request = request
        self.connections += 1
        self.busy.add(conn)
        assert self._loop is not None
        t = self.target
        fut = asyncio.ensure_future(
            self._loop.create_connection(
                lambda: conn, t.address, t.port, ssl=t.ssl, server_hostname=t.host if t.ssl else None
            )
        )
        fut.add_done_callback(lambda f: self._connected(conn, f))

    def _connected(self, conn: Connection, fut: "asyncio.Future[Any]") -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            return
        request, conn.request = conn.request, None
        conn.closed = True
        if request is None:  # timed out while connecting, already recorded
            return
        if isinstance(exc, ConnectionRefusedError):
            reason = ErrorReason.REFUSED
        elif isinstance(exc, ConnectionResetError):
            reason = ErrorReason.RESET
        elif isinstance(exc, TimeoutError):
            reason = ErrorReason.TIMEOUT
        else:
            reason = ErrorReason.OTHER
        self.on_failure(conn, request, reason)

    def _complete(
        self, conn: Connection, request: Request, verdict: Verdict, answered: Connection | None = None
    ) -> None:
        """Record a finished request; ``answered`` is the connection whose response it got
        (its headers name the serving DC, the home cell and the session ack), None on failure."""
        now = time.monotonic()
        self.completed += 1
        if self.tracking is None:
            served = None if answered is None else answered.served_by
            self.recorder.record(request[0], verdict, now - request[1], now + self.offset, served)
        else:
            self._record_tracked(request, verdict, now, answered)
        if conn.closed:
            self.busy.discard(conn)
            self.connections -= 1
            if self.pending:
                self._dispatch(self.pending.popleft())
        elif self.pending:
            conn.send(self.pending.popleft())
        else:
            self.busy.discard(conn)
            conn.idle_since = now
            self.idle.append(conn)
        self._check_drained()

    def _record_tracked(
        self, request: Request, verdict: Verdict, now: float, answered: Connection | None
    ) -> None:
        idx, user, seq = request[0], request[3], request[4]
        s = self.streams[idx]
        served = cell = None
        if answered is not None:
            served, cell = answered.served_by, answered.cell
        if self.track_cells:
            cells = s.cells
            if cell is not None:
                if user in cells or len(cells) < MAX_LEARNED_CELLS:
                    cells[user] = cell
            else:
                cell = cells.get(user)
        epoch = now + self.offset
        self.recorder.record(idx, verdict, now - request[1], epoch, served, cell)
        book = s.book
        if book is None or seq == 0:
            return
        good = verdict.outcome is Outcome.OK or verdict.outcome is Outcome.DEGRADED
        if seq > 0:
            ack = None if answered is None else answered.seq_ack
            acked = good and ack is not None and ack == str(seq).encode()
            book.on_write(user, seq, acked, epoch, served, cell)
            self.recorder.session_write(idx, acked)
        else:
            lost = book.on_read(user, answered.body if answered is not None and good else None, epoch)
            self.recorder.session_read(idx, lost)

    # ConnectionOwner
    def on_response(self, conn: Connection, request: Request, verdict: Verdict) -> None:
        self._complete(conn, request, verdict, conn)

    def on_failure(self, conn: Connection, request: Request, reason: ErrorReason) -> None:
        conn.closed = True
        self._complete(conn, request, Verdict(Outcome.ERROR, reason))

    def on_idle_lost(self, conn: Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
            self.connections -= 1

    # -- timeouts ---------------------------------------------------------------------------
    def _sweep(self) -> None:
        now = time.monotonic()
        limit = now - self.profile.timeout_s
        expired = [c for c in self.busy if c.request is not None and c.request[1] <= limit]
        for conn in expired:
            request = conn.request
            assert request is not None
            conn.abort()
            self._complete(conn, request, _TIMEOUT)
        pending = self.pending
        while pending and pending[0][1] <= limit:
            request = pending.popleft()
            self.completed += 1
            if self.tracking is None:
                self.recorder.record(request[0], _TIMEOUT, now - request[1], now + self.offset)
            else:
                self._record_tracked(request, _TIMEOUT, now, None)
        self.recorder.roll(now + self.offset)
        self._check_drained()
        if self._drained is not None and not self._drained.is_set():
            assert self._loop is not None
            self._sweep_handle = self._loop.call_later(self._sweep_every, self._sweep)
