"""The HTTP/1.1 response parser and the outcome contract, without sockets."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosdrill.load.client import Connection, Request, parse_chunked
from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict, classify_response

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REQ: Request = (0, 0.0, b"POST / HTTP/1.1\r\n\r\n", 0, 0)


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class Owner:
    def __init__(self) -> None:
        self.responses: list[Verdict] = []
        self.failures: list[ErrorReason] = []
        self.idle_lost = 0

    def on_response(self, conn: Connection, request: Request, verdict: Verdict) -> None:
        assert request is REQ
        self.responses.append(verdict)

    def on_failure(self, conn: Connection, request: Request, reason: ErrorReason) -> None:
        self.failures.append(reason)

    def on_idle_lost(self, conn: Connection) -> None:
        self.idle_lost += 1


def _conn() -> tuple[Connection, Owner, FakeTransport]:
    owner = Owner()
    conn = Connection(owner)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.send(REQ)
    return conn, owner, transport


def _response(status: int, body: bytes, headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    lines = [f"HTTP/{version} {status} X"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _feed(data: bytes, cuts: list[int] | None = None) -> tuple[Connection, Owner, FakeTransport]:
    conn, owner, transport = _conn()
    points = sorted({c for c in (cuts or []) if 0 < c < len(data)})
    prev = 0
    for c in [*points, len(data)]:
        conn.data_received(data[prev:c])
        prev = c
    return conn, owner, transport


CACHE_OK = json.dumps({"degraded": "cache", "text": "t"}).encode()
BUSY_OK = json.dumps({"degraded": "busy", "message": "m"}).encode()


@pytest.mark.parametrize(
    ("raw", "outcome", "reason", "malformed", "bare"),
    [
        (_response(200, b'{"text":"hi"}'), Outcome.OK, None, False, False),
        (_response(200, CACHE_OK, {"X-Chaosdrill-Degraded": "cache"}), Outcome.DEGRADED, None, False, False),
        (_response(200, BUSY_OK, {"x-chaosdrill-degraded": "busy"}), Outcome.DEGRADED, None, False, False),
        (_response(200, CACHE_OK, {"X-Chaosdrill-Degraded": "busy"}), Outcome.DEGRADED, None, True, False),
        (
            _response(200, b'{"degraded":"cache","text":""}', {"X-Chaosdrill-Degraded": "cache"}),
            Outcome.DEGRADED,
            None,
            True,
            False,
        ),
        (
            _response(200, b"not json", {"X-Chaosdrill-Degraded": "cache"}),
            Outcome.DEGRADED,
            None,
            True,
            False,
        ),
        (_response(429, b"{}", {"Retry-After": "1"}), Outcome.REJECTED, None, False, False),
        (_response(429, b"{}"), Outcome.REJECTED, None, False, True),
        (_response(503, b"busy"), Outcome.ERROR, ErrorReason.S503, False, False),
        (_response(500, b""), Outcome.ERROR, ErrorReason.S500, False, False),
        (_response(502, b""), Outcome.ERROR, ErrorReason.S502, False, False),
        (_response(504, b""), Outcome.ERROR, ErrorReason.OTHER, False, False),
        (_response(404, b""), Outcome.ERROR, ErrorReason.OTHER, False, False),
    ],
)
def test_classification(
    raw: bytes, outcome: Outcome, reason: ErrorReason | None, malformed: bool, bare: bool
) -> None:
    conn, owner, transport = _feed(raw)
    (v,) = owner.responses
    assert (v.outcome, v.reason, v.malformed, v.no_retry_after) == (outcome, reason, malformed, bare)
    assert not transport.closed and conn.request is None


def test_interim_100_is_skipped() -> None:
    _, owner, _ = _feed(b"HTTP/1.1 100 Continue\r\n\r\n" + _response(200, b"{}"))
    assert [v.outcome for v in owner.responses] == [Outcome.OK]


def test_connection_close_and_http10_are_not_reused() -> None:
    conn, owner, transport = _feed(_response(200, b"{}", {"Connection": "close"}))
    assert owner.responses and transport.closed and conn.closed
    conn, owner, transport = _feed(_response(200, b"{}", version="1.0"))
    assert owner.responses and transport.closed


def test_body_until_close() -> None:
    conn, owner, _ = _feed(b"HTTP/1.1 503 busy\r\nContent-Type: text/plain\r\n\r\npartial")
    assert not owner.responses
    conn.connection_lost(None)
    assert [v.reason for v in owner.responses] == [ErrorReason.S503]


def test_lost_mid_response_is_reset() -> None:
    conn, owner, _ = _feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    conn.connection_lost(ConnectionResetError())
    assert owner.failures == [ErrorReason.RESET] and not owner.responses


def test_idle_loss_is_reported_once() -> None:
    conn, owner, _ = _feed(_response(200, b"{}"))
    conn.connection_lost(None)
    assert owner.idle_lost == 1 and not owner.failures


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_protocol_errors_fail_the_request(raw: bytes) -> None:
    _, owner, transport = _feed(raw)
    assert owner.failures == [ErrorReason.OTHER] and transport.aborted


def test_unsolicited_bytes_close_the_connection() -> None:
    conn, owner, transport = _feed(_response(200, b"{}"))
    conn.data_received(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed and len(owner.responses) == 1


def _chunk(body: bytes, sizes: list[int]) -> bytes:
    out, pos = [], 0
    for size in sizes:
        part = body[pos : pos + size]
        if not part:
            break
        out.append(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        pos += len(part)
    if pos < len(body):
        out.append(f"{len(body) - pos:x};ext=1\r\n".encode() + body[pos:] + b"\r\n")
    return b"".join(out) + b"0\r\n\r\n"


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 50), max_size=10),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
def test_chunked_degraded_answer_in_any_split(body: bytes, sizes: list[int], cuts: list[int]) -> None:
    encoded = _chunk(body, sizes)
    assert parse_chunked(encoded) == (body, len(encoded))
    assert parse_chunked(encoded[:-1]) is None
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Chaosdrill-Degraded: busy\r\n\r\n"
    _, owner, _ = _feed(head + encoded, cuts)
    (v,) = owner.responses
    expect = classify_response(200, b"busy", False, body)
    assert (v.outcome, v.malformed) == (expect.outcome, expect.malformed)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=500), cuts=st.lists(st.integers(0, 700), max_size=8))
def test_content_length_framing_in_any_split(body: bytes, cuts: list[int]) -> None:
    raw = _response(429, body, {"Retry-After": "3"})
    conn, owner, transport = _feed(raw, cuts)
    assert [(v.outcome, v.no_retry_after) for v in owner.responses] == [(Outcome.REJECTED, False)]
    assert not transport.aborted
    # The connection is reusable: a second exchange on it parses too.
    conn.send(REQ)
    conn.data_received(_response(200, b"{}"))
    assert len(owner.responses) == 2
