"""A minimal keep-alive HTTP/1.1 client connection on asyncio Protocols.

Why not aiohttp's client: its per-request machinery (tasks, streams, header multidicts,
response objects) costs several times what the request itself costs on loopback, and the
load generator must out-run the service it tests on the same machine. This connection
does one request at a time, frames responses by Content-Length (chunked and
read-until-close are handled too), looks only at the headers the outcome contract needs,
and calls its owner back with a :class:`Verdict`; no task or future per request.

It is deliberately not a general HTTP client: no redirects, no cookies, no compression,
no pipelining, no request bodies other than the pre-built bytes it is handed. Which
headers mark a degraded answer or name the DC that served it comes from the service's
outcome rules (a :class:`~chaosdrill.load.outcome.Classifier`).
"""

import asyncio
from typing import Protocol, cast

from chaosdrill.load.outcome import SANDBOX_CLASSIFIER, Classifier, ErrorReason, Verdict

__all__ = ["MAX_BODY", "MAX_HEAD", "Connection", "ConnectionOwner", "Request", "parse_chunked"]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024

# (stream index, scheduled monotonic time, request bytes, user index, seq): seq is 0 for a
# request outside a session, the user's sequence number for a session write, -1 for a read-back.
Request = tuple[int, float, bytes, int, int]


class ConnectionOwner(Protocol):
    def on_response(self, conn: "Connection", request: Request, verdict: Verdict) -> None: ...

    def on_failure(self, conn: "Connection", request: Request, reason: ErrorReason) -> None: ...

    def on_idle_lost(self, conn: "Connection") -> None: ...


def parse_chunked(buf: bytes) -> tuple[bytes, int] | None:
    """Decode a complete chunked body at the start of ``buf``: (body, bytes consumed), or
    ``None`` while incomplete. Raises ValueError on a malformed or oversized body."""
    pos = 0
    parts: list[bytes] = []
    size_total = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise ValueError("chunk size line too long")
            return None
        size = int(buf[pos:eol].split(b";", 1)[0].strip(), 16)
        if size < 0:
            raise ValueError("negative chunk size")
        pos = eol + 2
        if size == 0:
            # Trailers (usually none), ended by an empty line.
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        size_total += size
        if size_total > MAX_BODY:
            raise ValueError("chunked body too large")
        if len(buf) < pos + size + 2:
            return None
        parts.append(buf[pos : pos + size])
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError("chunk not followed by CRLF")
        pos += size + 2


def _header(head: bytes, lower: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (given as b"\\r\\nname:") from the raw head, or None."""
    i = lower.find(name)
    if i < 0:
        return None
    start = i + len(name)
    end = lower.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


_H_LENGTH = b"\r\ncontent-length:"
_H_TE = b"\r\ntransfer-encoding:"
_H_CONN = b"\r\nconnection:"
_H_RETRY = b"\r\nretry-after:"

# Parser states.
_HEAD, _BODY, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time."""

    def __init__(self, owner: ConnectionOwner, classifier: Classifier = SANDBOX_CLASSIFIER) -> None:
        self.owner = owner
        self.classifier = classifier
        self.served_by: bytes | None = None  # the last response's served-by header, when asked for
        self.cell: bytes | None = None  # its home-cell header, when asked for
        self.seq_ack: bytes | None = None  # its session seq-ack header, when asked for
        self.body = b""  # the last response's body (a session read-back is judged by it)
        self.transport: asyncio.Transport | None = None
        self.request: Request | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = b""
        self._state = _HEAD
        self._need = 0
        self._status = 0
        self._degraded: bytes | None = None
        self._retry_after = False
        self._keep = True

    # -- driving it -------------------------------------------------------------------
    def send(self, request: Request) -> None:
        """Write a request; the connection must be open and idle."""
        self.request = request
        self._state = _HEAD
        if self.transport is not None:
            self.transport.write(request[2])

    def abort(self) -> None:
        """Drop the connection now (a timeout); the owner hears nothing more about it."""
        self.request = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones.
        t = self.transport = cast(asyncio.Transport, transport)
        if self.closed:  # aborted (timed out) while connecting
            t.abort()
            return
        if self.request is not None:
            t.write(self.request[2])

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        was_closed = self.closed
        self.closed = True
        request, self.request = self.request, None
        if request is None:
            if not was_closed:
                self.owner.on_idle_lost(self)
            return
        if self._state == _UNTIL_CLOSE:
            self.request = request
            self._finish(self._buf)
            return
        self.owner.on_failure(self, request, ErrorReason.RESET)

    def data_received(self, data: bytes) -> None:
        if self.request is None:
            # Bytes nobody asked for: the server is confused; don't reuse the connection.
            self.close()
            return
        buf = self._buf + data if self._buf else data
        try:
            self._parse(buf)
        except ValueError:
            self._protocol_error()

    # -- parsing ------------------------------------------------------------------------
    def _parse(self, buf: bytes) -> None:
        if self._state == _HEAD:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ValueError("response head too large")
                self._buf = buf
                return
            head = buf[:end]
            buf = buf[end + 4 :]
            if not head.startswith(b"HTTP/1."):
                raise ValueError("not an HTTP/1.x response")
            status = int(head[9:12])
            if 100 <= status < 200:  # an interim response; the real one follows
                self._buf = b""
                if buf:
                    self._parse(buf)
                return
            lower = head.lower()
            self._status = status
            rules = self.classifier
            needle = rules.degraded_needle
            self._degraded = (
                _header(head, lower, needle) if needle is not None and 200 <= status < 300 else None
            )
            self._retry_after = status == 429 and lower.find(_H_RETRY) >= 0
            if rules.served_by_needle is not None:
                self.served_by = _header(head, lower, rules.served_by_needle)
            if rules.cell_needle is not None:
                self.cell = _header(head, lower, rules.cell_needle)
            if rules.seq_ack_needle is not None:
                self.seq_ack = _header(head, lower, rules.seq_ack_needle)
            conn = _header(head, lower, _H_CONN)
            self._keep = head[5:8] == b"1.1" and not (conn is not None and b"close" in conn.lower())
            te = _header(head, lower, _H_TE)
            length = _header(head, lower, _H_LENGTH)
            request = self.request
            if request is not None and request[2].startswith(b"HEAD "):
                # The answer to HEAD has no body, whatever its Content-Length says.
                self._need = 0
                self._state = _BODY
            elif te is not None and b"chunked" in te.lower():
                self._state = _CHUNKED
            elif length is not None:
                self._need = int(length)
                if not 0 <= self._need <= MAX_BODY:
                    raise ValueError("bad Content-Length")
                self._state = _BODY
            elif status in (204, 304):
                self._need = 0
                self._state = _BODY
            else:
                self._state = _UNTIL_CLOSE
                self._keep = False
        if self._state == _BODY:
            need = self._need
            if len(buf) < need:
                self._buf = buf
                return
            if len(buf) > need:
                raise ValueError("bytes after the response (no pipelining was asked for)")
            self._buf = b""
            self._finish(buf)
        elif self._state == _CHUNKED:
            parsed = parse_chunked(buf)
            if parsed is None:
                self._buf = buf
                return
            body, used = parsed
            if used != len(buf):
                raise ValueError("bytes after the chunked response")
            self._buf = b""
            self._finish(body)
        else:  # _UNTIL_CLOSE
            if len(buf) > MAX_BODY:
                raise ValueError("body too large")
            self._buf = buf

    def _finish(self, body: bytes) -> None:
        self._buf = b""
        self._state = _HEAD
        self.body = body
        verdict = self.classifier.classify(self._status, self._degraded, self._retry_after, body)
        request, self.request = self.request, None
        if not self._keep:
            self.close()
        if request is not None:
            # The owner records it and may send the next request on this connection at once.
            self.owner.on_response(self, request, verdict)

    def _protocol_error(self) -> None:
        self._buf = b""
        self._state = _HEAD
        self.closed = True
        request, self.request = self.request, None
        if self.transport is not None:
            self.transport.abort()
        if request is not None:
            self.owner.on_failure(self, request, ErrorReason.OTHER)
