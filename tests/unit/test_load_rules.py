"""Outcome rules: a service's own degraded marker, rejected statuses and served-by header,
judged through the real response parser, and the served-by counts in the windows."""

import json
from pathlib import Path

import pytest

from chaosdrill.load import measurements as m
from chaosdrill.load.client import Connection, Request
from chaosdrill.load.outcome import Classifier, ErrorReason, Outcome, Verdict
from chaosdrill.load.recorder import SERVED_BY_MAX_VALUES, SERVED_BY_OVERFLOW, Recorder, StreamInfo
from chaosdrill.load.template import OutcomeRules

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

GET: Request = (0, 0.0, b"GET /x HTTP/1.1\r\n\r\n")
HEAD: Request = (0, 0.0, b"HEAD /x HTTP/1.1\r\n\r\n")


class _Transport:
    def __init__(self) -> None:
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class _Owner:
    def __init__(self) -> None:
        self.seen: list[tuple[Verdict, bytes | None]] = []
        self.failures: list[ErrorReason] = []

    def on_response(self, conn: Connection, request: Request, verdict: Verdict) -> None:
        self.seen.append((verdict, conn.served_by))

    def on_failure(self, conn: Connection, request: Request, reason: ErrorReason) -> None:
        self.failures.append(reason)

    def on_idle_lost(self, conn: Connection) -> None:
        pass


def _response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _judge(rules: OutcomeRules, raw: bytes, request: Request = GET) -> tuple[Verdict, bytes | None]:
    owner = _Owner()
    conn = Connection(owner, Classifier(rules))
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    conn.send(request)
    conn.data_received(raw)
    assert not owner.failures
    (seen,) = owner.seen
    return seen


def _outcome(rules: OutcomeRules, raw: bytes) -> tuple[Outcome, ErrorReason | None, bool, bool]:
    v, _ = _judge(rules, raw)
    return v.outcome, v.reason, v.malformed, v.no_retry_after


BY_HEADER = OutcomeRules(degraded_header="X-Fallback")
BY_FIELD = OutcomeRules(degraded_json_field="degraded")
NO_DEGRADED = OutcomeRules()
CUSTOM_REJECTED = OutcomeRules(rejected_statuses=(503, 409))


@pytest.mark.parametrize(
    ("rules", "raw", "expected"),
    [
        (BY_HEADER, _response(200, b"{}", {"X-Fallback": ""}), (Outcome.DEGRADED, None, False, False)),
        (
            BY_HEADER,
            _response(200, b"not json", {"x-fallback": "stale"}),
            (Outcome.DEGRADED, None, False, False),
        ),
        (
            BY_HEADER,
            _response(200, b"{}", {"X-Chaosdrill-Degraded": "cache"}),
            (Outcome.OK, None, False, False),
        ),
        (
            BY_HEADER,
            _response(500, b"", {"X-Fallback": "1"}),
            (Outcome.ERROR, ErrorReason.S500, False, False),
        ),
        (
            BY_FIELD,
            _response(200, b'{"degraded": true, "items": []}'),
            (Outcome.DEGRADED, None, False, False),
        ),
        (BY_FIELD, _response(200, b'{"degraded": "stale-cache"}'), (Outcome.DEGRADED, None, False, False)),
        (BY_FIELD, _response(200, b'{"degraded": false}'), (Outcome.OK, None, False, False)),
        (BY_FIELD, _response(200, b'{"items": [{"degraded": true}]}'), (Outcome.OK, None, False, False)),
        (BY_FIELD, _response(200, b'{"items": []}'), (Outcome.OK, None, False, False)),
        (BY_FIELD, _response(200, b'"degraded" but not JSON'), (Outcome.OK, None, False, False)),
        (BY_FIELD, _response(200, b"", {"X-Chaosdrill-Degraded": "cache"}), (Outcome.OK, None, False, False)),
        (
            NO_DEGRADED,
            _response(200, b'{"degraded": true}', {"X-Chaosdrill-Degraded": "cache"}),
            (Outcome.OK, None, False, False),
        ),
        (NO_DEGRADED, _response(201, b"{}"), (Outcome.OK, None, False, False)),
        (NO_DEGRADED, _response(204), (Outcome.OK, None, False, False)),
        (NO_DEGRADED, _response(429, b"", {"Retry-After": "2"}), (Outcome.REJECTED, None, False, False)),
        (NO_DEGRADED, _response(429), (Outcome.REJECTED, None, False, True)),
        (CUSTOM_REJECTED, _response(503), (Outcome.REJECTED, None, False, False)),
        (CUSTOM_REJECTED, _response(409), (Outcome.REJECTED, None, False, False)),
        (
            CUSTOM_REJECTED,
            _response(429, b"", {"Retry-After": "2"}),
            (Outcome.ERROR, ErrorReason.OTHER, False, False),
        ),
        (CUSTOM_REJECTED, _response(502), (Outcome.ERROR, ErrorReason.S502, False, False)),
    ],
)
def test_rules_classify(
    rules: OutcomeRules, raw: bytes, expected: tuple[Outcome, ErrorReason | None, bool, bool]
) -> None:
    assert _outcome(rules, raw) == expected


def test_the_sandbox_header_keeps_its_body_check_under_explicit_rules() -> None:
    rules = OutcomeRules(degraded_header="X-Chaosdrill-Degraded")
    good = json.dumps({"degraded": "cache", "text": "t"}).encode()
    assert _outcome(rules, _response(200, good, {"X-Chaosdrill-Degraded": "cache"}))[2] is False
    assert _outcome(rules, _response(200, b"{}", {"X-Chaosdrill-Degraded": "cache"}))[2] is True


def test_served_by_is_read_from_every_answer() -> None:
    rules = OutcomeRules(served_by_header="X-Served-By")
    verdict, served = _judge(rules, _response(200, b"{}", {"X-Served-By": " dc2 "}))
    assert verdict.outcome is Outcome.OK and served == b"dc2"
    verdict, served = _judge(rules, _response(503, b"", {"x-served-by": "dc1"}))
    assert verdict.reason is ErrorReason.S503 and served == b"dc1"
    assert _judge(rules, _response(200, b"{}"))[1] is None
    assert _judge(OutcomeRules(), _response(200, b"{}", {"X-Served-By": "dc1"}))[1] is None


def test_a_head_answer_has_no_body_whatever_its_length_says() -> None:
    verdict, _ = _judge(OutcomeRules(), b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", HEAD)
    assert verdict.outcome is Outcome.OK


def _recorder(path: Path, track: bool) -> Recorder:
    return Recorder(
        path,
        [StreamInfo("s", "t", "interactive")],
        window_s=1.0,
        start=1000.0,
        meta={},
        target_rates=lambda: [1.0],
        track_served_by=track,
    )


def test_served_by_is_counted_per_window_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rec = _recorder(path, track=True)
    ok = Verdict(Outcome.OK)
    for served in (b"dc1", b"dc1", b"dc2", None):
        rec.record(0, ok, 0.01, 1000.5, served)
    rec.record(0, ok, 0.01, 1001.5, b"dc2")
    for i in range(SERVED_BY_MAX_VALUES + 5):
        rec.record(0, ok, 0.01, 1001.6, f"pod-{i}".encode())
    rec.close(1002.0)
    windows = m.read_windows(path)
    assert windows[0].streams["s"].served_by == {"dc1": 2, "dc2": 1}
    second = windows[1].streams["s"].served_by
    assert len(second) == SERVED_BY_MAX_VALUES + 1 and second[SERVED_BY_OVERFLOW] == 6
    total = m.aggregate(windows)
    assert total.served_by["dc2"] == 2 and total.to_dict()["served_by"]["dc1"] == 2


def test_untracked_windows_keep_the_old_line_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rec = _recorder(path, track=False)
    rec.record(0, Verdict(Outcome.OK), 0.01, 1000.5)
    rec.close(1001.0)
    line = json.loads(path.read_text().splitlines()[1])
    assert "served_by" not in line["streams"]["s"]
    windows = m.read_windows(path)
    assert windows[0].streams["s"].served_by == {}
    assert "served_by" not in m.aggregate(windows).to_dict()
