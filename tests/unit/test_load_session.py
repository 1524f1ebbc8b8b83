"""The session book (which acknowledged writes a read-back no longer finds) and the parts of the
load that carry sessions: the profile's tracking, the client's headers, the recorder's windows."""

import json
from pathlib import Path

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.load import measurements as m
from chaosdrill.load.client import Connection, Request
from chaosdrill.load.outcome import Classifier, ErrorReason, Outcome, Verdict
from chaosdrill.load.profile import SANDBOX_TRACKING, parse_profile
from chaosdrill.load.recorder import Recorder, StreamInfo
from chaosdrill.load.render import read_requests_for, requests_for
from chaosdrill.load.session import ACK_HISTORY, SessionBook, run_base
from chaosdrill.load.template import SANDBOX_RULES

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T = 1_000.0


def _read(seq: int | None, seqs: list[object] | None = None) -> bytes:
    doc: dict[str, object] = {"user": "u0", "seq": seq, "store": "dc1"}
    if seqs is not None:
        doc["seqs"] = seqs
    return json.dumps(doc).encode()


def _book_with_acks(users: int = 3) -> SessionBook:
    """u0 and u1 in cell dc2, u2 in dc1; u0 wrote 1..3, u1 wrote 1, u2 wrote 1, all acked by their home."""
    book = SessionBook(users)
    for i in range(3):
        book.on_write(0, book.next_write(0), True, T + i, b"dc2", b"dc2")
    book.on_write(1, book.next_write(1), True, T + 3, b"dc2", b"dc2")
    book.on_write(2, book.next_write(2), True, T + 3, b"dc1", b"dc1")
    return book


def test_a_read_back_finds_exactly_the_acknowledged_writes_missing() -> None:
    book = _book_with_acks()
    assert not any(book.wants_read(u) for u in range(3))
    book.read_started(0, T + 10)
    lost = book.on_read(0, _read(1), T + 10.1)
    assert lost is not None
    assert [(w.seq, w.acked_at, w.acked_by, w.cell, w.found) for w in lost] == [
        (2, T + 1, "dc2", "dc2", 1),
        (3, T + 2, "dc2", "dc2", 1),
    ]
    # Counted once: the same read again finds nothing new.
    book.read_started(0, T + 11)
    assert book.on_read(0, _read(1), T + 11.1) == []
    assert book.lost_total == 2


def test_null_means_nothing_stored_and_writes_acked_after_the_read_left_are_not_judged() -> None:
    book = SessionBook(1)
    book.on_write(0, book.next_write(0), True, T, b"dc1", b"dc1")
    book.read_started(0, T + 1)
    book.on_write(0, book.next_write(0), True, T + 1.5, b"dc1", b"dc1")  # acked after the read left
    lost = book.on_read(0, _read(None), T + 2)
    assert lost is not None and [(w.seq, w.found) for w in lost] == [(1, 0)]


def test_seqs_find_a_loss_a_later_write_overwrote() -> None:
    """1..5 acked on dc2, 3..4 lost with it, 6 written on the promoted replica: ``seq`` alone
    says 6 and hides the loss; ``seqs`` lacks 3 and 4."""
    book = SessionBook(1)
    for i in range(5):
        book.on_write(0, book.next_write(0), True, T + i, b"dc2", b"dc2")
    book.on_write(0, book.next_write(0), True, T + 6, b"dc3", b"dc2")
    book.read_started(0, T + 7)
    lost = book.on_read(0, _read(6, [1, 2, 5, 6]), T + 7.1)
    assert lost is not None and [(w.seq, w.found) for w in lost] == [(3, 6), (4, 6)]
    plain = SessionBook(1)
    for i in range(6):
        plain.on_write(0, plain.next_write(0), True, T + i, b"dc2", b"dc2")
    plain.read_started(0, T + 7)
    assert plain.on_read(0, _read(6), T + 7.1) == [], "without seqs the overwritten loss is invisible"


def test_seqs_trimmed_below_their_oldest_and_malformed_seqs_are_not_judged() -> None:
    book = SessionBook(1)
    for i in range(4):
        book.on_write(0, book.next_write(0), True, T + i, b"dc1", b"dc1")
    book.read_started(0, T + 5)
    assert book.on_read(0, _read(4, [3, 4]), T + 5.1) == [], "1 and 2 fell out of the store's window"
    book.read_started(0, T + 6)
    assert book.on_read(0, _read(4, [3, "x", 4]), T + 6.1) == [], "a malformed list falls back to seq"
    book.read_started(0, T + 7)
    lost = book.on_read(0, _read(4, [1, 4]), T + 7.1)
    assert lost is not None and [w.seq for w in lost] == [2, 3]


def test_an_unacknowledged_write_marks_its_whole_cell_and_only_it() -> None:
    book = _book_with_acks()
    book.on_write(1, book.next_write(1), False, T + 5, None, None)  # a 503 or a timeout
    assert [book.wants_read(u) for u in range(3)] == [True, True, False]
    book.read_started(0, T + 6)
    assert not book.wants_read(0), "one read at a time"


def test_a_new_serving_dc_marks_the_cell_a_failed_read_keeps_it_marked() -> None:
    book = _book_with_acks()
    book.on_write(1, book.next_write(1), True, T + 5, b"dc3", b"dc2")  # the cell moved to dc3
    assert book.wants_read(0) and book.wants_read(1) and not book.wants_read(2)
    book.read_started(0, T + 6)
    assert book.on_read(0, b"<html>busy</html>", T + 6.1) is None
    assert book.wants_read(0), "a read that could not be judged is tried again"
    book.read_started(0, T + 7)
    assert book.on_read(0, _read(3), T + 7.1) == []
    assert not book.wants_read(0)


def test_a_verified_write_can_still_be_lost_later_by_a_rollback() -> None:
    book = SessionBook(1)
    for i in range(4):
        book.on_write(0, book.next_write(0), True, T + i, b"dc3", b"dc2")
    book.read_started(0, T + 5)
    assert book.on_read(0, _read(4), T + 5.1) == []
    # Failback to a store that missed writes 3 and 4.
    book.read_started(0, T + 9)
    lost = book.on_read(0, _read(2), T + 9.1)
    assert lost is not None and [w.seq for w in lost] == [3, 4]


def test_mark_all_picks_users_with_unverified_writes_and_history_is_bounded() -> None:
    book = _book_with_acks()
    book.read_started(2, T + 4)
    assert book.on_read(2, _read(1), T + 4.1) == []
    assert book.mark_all() == 2 and book.pending == 2
    assert book.to_verify() == [0, 1]
    one = SessionBook(1)
    for i in range(ACK_HISTORY + 5):
        one.on_write(0, one.next_write(0), True, T + i, b"dc1", b"dc1")
    assert one.unverified_dropped == 5
    assert len(one.history[0] or ()) == ACK_HISTORY
    assert one.snapshot()["users"] == {
        "u0": {"last_acked_seq": ACK_HISTORY + 5, "last_acked_at": T + ACK_HISTORY + 4}
    }


def _profile(**tracking: object) -> dict[str, object]:
    return {
        "url": "http://127.0.0.1:9/v1/generate",
        "duration_s": 1,
        "streams": [{"name": "s", "rate": 1, "users": 3, "session": True}],
        "tracking": tracking,
    }


@pytest.mark.parametrize(
    ("tracking", "field", "problem"),
    [
        ({"seq": "X-S", "seq_ack": "X-A"}, "streams[0].session", "read_path"),
        ({"seq": "X-S", "seq_ack": "X-A", "read_path": "/s"}, "tracking.read_path", "{user}"),
        ({"seq": "X S", "seq_ack": "X-A", "read_path": "/s/{user}"}, "tracking.seq", "header name"),
        ({"sequence": "X-S"}, "tracking.sequence", "unknown field"),
    ],
)
def test_bad_tracking_names_the_field(tracking: dict[str, str], field: str, problem: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_profile(_profile(**tracking), "load.yaml")
    assert caught.value.source == "load.yaml" and caught.value.field == field
    assert problem in caught.value.problem


def test_a_session_stream_sends_the_seq_header_and_reads_with_the_routing_headers() -> None:
    profile = parse_profile(_profile(**vars(SANDBOX_TRACKING)))
    assert parse_profile(profile.to_dict()) == profile
    write = requests_for(profile, "h:1", "/v1/generate", None)[0].render(2, 7)
    assert b"X-Chaosdrill-Seq: 7\r\n" in write and b"X-User: u2\r\n" in write
    read = read_requests_for(profile, "h:1", "/v1/generate", None)[0]
    assert read is not None
    head = read.render(2, 0)
    assert head.startswith(b"GET /v1/session/u2 HTTP/1.1\r\n")
    assert b"X-User: u2\r\n" in head and b"Seq" not in head and b"Content-Length" not in head


REQ: Request = (0, 0.0, b"GET / HTTP/1.1\r\n\r\n", 0, 1)


class _Owner:
    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []

    def on_response(self, conn: Connection, request: Request, verdict: Verdict) -> None:
        self.verdicts.append(verdict)

    def on_failure(self, conn: Connection, request: Request, reason: ErrorReason) -> None:
        raise AssertionError(reason)

    def on_idle_lost(self, conn: Connection) -> None:
        raise AssertionError("idle lost")


def test_the_client_reads_the_cell_and_ack_headers_only_when_named() -> None:
    head = b"HTTP/1.1 200 OK\r\nx-chaosdrill-dc: dc3\r\nX-Chaosdrill-Cell:  dc2 \r\nX-Chaosdrill-Seq-Ack: 1\r\nContent-Length: 2\r\n\r\n{}"
    named = Classifier(
        SANDBOX_RULES, served_by="X-Chaosdrill-DC", cell="X-Chaosdrill-Cell", seq_ack="X-Chaosdrill-Seq-Ack"
    )
    for classifier, expect in (
        (named, (b"dc3", b"dc2", b"1")),
        (Classifier(SANDBOX_RULES), (None, None, None)),
    ):
        owner = _Owner()
        conn = Connection(owner, classifier)
        conn.send(REQ)
        conn.data_received(head)
        assert [v.outcome for v in owner.verdicts] == [Outcome.OK]
        assert (conn.served_by, conn.cell, conn.seq_ack) == expect
        assert conn.body == b"{}"


def test_windows_count_per_cell_and_dc_and_carry_lost_writes(tmp_path: Path) -> None:
    path = tmp_path / "measurements.jsonl"
    r = Recorder(
        path,
        [StreamInfo("ses", "t", "interactive"), StreamInfo("plain", "t", "batch")],
        window_s=1.0,
        start=T,
        meta={},
        target_rates=lambda: [1.0, 1.0],
        track_served_by=True,
        track_cells=True,
        session_streams=[0],
    )
    ok, err = Verdict(Outcome.OK), Verdict(Outcome.ERROR, ErrorReason.TIMEOUT)
    r.record(0, ok, 0.01, T + 0.1, b"dc3", b"dc2")
    r.record(0, err, 0.01, T + 0.2, None, b"dc2")
    r.record(1, err, 0.01, T + 0.3, None, None)
    r.session_write(0, True)
    r.session_write(0, False)
    book = _book_with_acks()
    book.read_started(0, T + 10)
    r.session_read(0, book.on_read(0, _read(1), T + 10.1))
    r.session_read(0, None)
    r.close(T + 0.5)
    (w,) = m.read_windows(path)
    ses, plain = w.streams["ses"], w.streams["plain"]
    assert (
        ses.cells["dc2"].ok == 1 and ses.cells["dc2"].error == 1 and ses.cells["dc2"].served_by == {"dc3": 1}
    )
    assert ses.dcs["dc3"].ok == 1 and ses.dcs["<none>"].error == 1
    assert plain.cells["<unknown>"].error == 1 and plain.session is None
    assert ses.session is not None
    assert (ses.session.writes, ses.session.acked, ses.session.reads, ses.session.read_failed) == (2, 1, 2, 1)
    assert ses.session.lost == 2 and [x.seq for x in ses.session.lost_writes] == [2, 3]
    assert (ses.session.lost_first_ack, ses.session.lost_last_ack) == (T + 1, T + 2)


def test_an_untracked_window_line_still_parses_with_empty_placement() -> None:
    w = m.parse_window({"t0": 1.0, "t1": 2.0, "streams": {"a": {"ok": 3}}})
    assert w is not None
    assert w.streams["a"].cells == {} and w.streams["a"].dcs == {} and w.streams["a"].session is None


def test_a_run_numbers_its_writes_above_any_earlier_run() -> None:
    """Users are the same each run: a rerun writing 1, 2, 3 again changes nothing in a store
    that holds them, so it has nothing to lose. Each run starts above the last."""
    earlier, later = run_base(1_796_000_000.0), run_base(1_796_000_000.001)
    assert later > earlier
    assert earlier + 999 < later  # a user's thousand writes stay below the next millisecond's run
    assert run_base(9_000_000_000.0) < 2**53  # the sandbox's (and JSON's) integer limit, to 2255
    book = SessionBook(2, first_seq=earlier)
    assert [book.next_write(0), book.next_write(0), book.next_write(1)] == [
        earlier + 1,
        earlier + 2,
        earlier + 1,
    ]
