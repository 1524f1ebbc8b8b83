"""Per-user session writes: which acknowledged writes a read-back no longer finds.

A session stream sends each virtual user's requests with the user's own sequence number
(b+1, b+2, ..., b from :func:`run_base`). A 2xx answer that echoes it in the seq-ack header
acknowledges the write, and the book keeps a short history of each user's acknowledged writes
(seq, ack time, serving DC).

The service's read path answers the latest stored sequence number (``seq``) and, optionally,
the recent ones it holds (``seqs``, a list of integers). With ``seqs`` a read finds a lost
write however many writes landed after it: 11..20 acknowledged on a lost primary and 21
written on the promoted replica read back as ``seq`` 21 with ``seqs`` lacking 11..20. With
``seq`` alone a lost write is visible only until the user writes again: the first write that
reaches the promoted replica overwrites the evidence. Either way, the book reads a user back
*before* its next write whenever that user may have lost data: when one of its cell's writes
goes unacknowledged, when its cell's writes start being acknowledged by another DC
(failover, failback), or when every user is asked to verify (the control API's ``/verify``,
and once more at the end of the run). All users of a cell are marked at once, since a DC
loss takes the whole cell with it.

A read sent at ``t`` that finds ``n`` judges every write acknowledged before ``t``: those
with seq > n are lost, and so are those missing from its ``seqs`` that are not older than
the oldest number ``seqs`` holds (older ones may have been trimmed, not lost). Lost writes
leave the history, so no loss is counted twice. Writes a read found stay in the history,
because a later read can still find them gone: a failback to a store that missed the
failover's writes rolls a user back past writes that were verified once. Memory stays
bounded: the last :data:`ACK_HISTORY` acknowledged writes per user (an unverified one pushed
out is counted in ``unverified_dropped``, so a loss reaching further back shows as
truncated).
"""

import json
from collections import deque
from dataclasses import dataclass

__all__ = ["ACK_HISTORY", "LostWrite", "SessionBook", "run_base"]

ACK_HISTORY = 64
UNKNOWN_CELL = b""


@dataclass(frozen=True)
class LostWrite:
    """An acknowledged write that a later read did not find."""

    user: int
    seq: int
    acked_at: float  # epoch seconds
    acked_by: str  # the DC whose answer acknowledged it ("" if the answer did not say)
    cell: str  # the user's home cell ("" if never seen)
    found: int  # the sequence number the read found (0: nothing stored)
    detected_at: float


def run_base(epoch_s: float) -> int:
    """The sequence numbers' starting point of a run started at ``epoch_s``: its epoch
    milliseconds times 1,000, so each run's numbers lie above the last run's (unless a user
    wrote a thousand times per millisecond of the gap) and below 2^53 until the year 2255."""
    return int(epoch_s * 1000) * 1000


class SessionBook:
    """One session stream's users: their sequence numbers, acknowledged writes and suspicions."""

    def __init__(self, users: int, first_seq: int = 0) -> None:
        self.users = users
        # Every user's numbers continue from ``first_seq`` (see :func:`run_base`), above any an
        # earlier run left in the store: a rerun writing 1, 2, 3 again would change nothing
        # there, so it would have nothing to lose and the RPO would read 0 whatever happened.
        self.next_seq = [first_seq] * users
        self.history: list[deque[tuple[int, float, bytes]] | None] = [None] * users
        self.last_dc: list[bytes | None] = [None] * users
        self.cell_of: list[bytes] = [UNKNOWN_CELL] * users
        self.cell_users: dict[bytes, set[int]] = {}
        self.suspect = bytearray(users)
        self.reading = bytearray(users)
        self.read_sent = [0.0] * users
        self.verified_at = [0.0] * users  # when the user's last judged read-back was sent
        self.last_acked: list[tuple[int, float] | None] = [None] * users
        self.unverified_dropped = 0
        self.lost_total = 0

    # -- what to send -----------------------------------------------------------------------
    def next_write(self, user: int) -> int:
        """The user's next sequence number (a write)."""
        seq = self.next_seq[user] + 1
        self.next_seq[user] = seq
        return seq

    def wants_read(self, user: int) -> bool:
        """True when the user's next request should be a read-back (and none is in flight)."""
        return bool(self.suspect[user]) and not self.reading[user]

    def read_started(self, user: int, now: float) -> None:
        self.reading[user] = 1
        self.read_sent[user] = now

    # -- suspicion ----------------------------------------------------------------------------
    def _mark_cell(self, user: int) -> None:
        cell = self.cell_of[user]
        members = self.cell_users.get(cell) if cell != UNKNOWN_CELL else None
        if members is None:
            self.suspect[user] = 1
            return
        for u in members:
            self.suspect[u] = 1

    def _unverified(self, user: int) -> bool:
        last = self.last_acked[user]
        return last is not None and last[1] >= self.verified_at[user]

    def mark_all(self) -> int:
        """Read every user with unverified writes back before its next write; how many."""
        n = 0
        for u in range(self.users):
            if self._unverified(u):
                self.suspect[u] = 1
                n += 1
        return n

    def to_verify(self) -> list[int]:
        """Users with acknowledged writes no read has judged yet."""
        return [u for u in range(self.users) if self._unverified(u) and not self.reading[u]]

    @property
    def pending(self) -> int:
        """Users marked for a read-back that has not completed yet."""
        return sum(1 for u in range(self.users) if self.suspect[u])

    def _learn_cell(self, user: int, cell: bytes | None) -> None:
        if cell is None or cell == self.cell_of[user]:
            return
        old = self.cell_of[user]
        if old != UNKNOWN_CELL:
            self.cell_users[old].discard(user)
        self.cell_of[user] = cell
        self.cell_users.setdefault(cell, set()).add(user)

    # -- what came back -------------------------------------------------------------------------
    def on_write(
        self, user: int, seq: int, acked: bool, now: float, dc: bytes | None, cell: bytes | None
    ) -> None:
        """A write's answer (or failure); ``acked`` when a 2xx echoed ``seq``."""
        self._learn_cell(user, cell)
        if not acked:
            self._mark_cell(user)
            return
        dc_key = dc or b""
        previous = self.last_dc[user]
        self.last_dc[user] = dc_key
        h = self.history[user]
        if h is None:
            h = self.history[user] = deque()
        if len(h) >= ACK_HISTORY:
            _, oldest_at, _ = h.popleft()
            if oldest_at >= self.verified_at[user]:
                self.unverified_dropped += 1
        h.append((seq, now, dc_key))
        last = self.last_acked[user]
        if last is None or seq > last[0]:
            self.last_acked[user] = (seq, now)
        if previous is not None and previous != dc_key:
            self._mark_cell(user)

    def on_read(self, user: int, body: bytes | None, now: float) -> list[LostWrite] | None:
        """A read-back's answer: the writes it shows lost, or None when it could not be judged
        (the read failed or its body was not the session JSON); the user stays marked then."""
        self.reading[user] = 0
        stored = _stored(body)
        if stored is None:
            return None
        found, held = stored
        oldest = min(held) if held else None
        self.suspect[user] = 0
        sent = self.read_sent[user]
        self.verified_at[user] = max(self.verified_at[user], sent)
        h = self.history[user]
        if not h:
            return []
        lost: list[LostWrite] = []
        kept: deque[tuple[int, float, bytes]] = deque()
        cell = self.cell_of[user].decode("latin-1")
        for seq, acked_at, dc in h:
            # Acknowledged after the read left: not judged by it.
            if acked_at < sent and _missing(seq, found, held, oldest):
                lost.append(LostWrite(user, seq, acked_at, dc.decode("latin-1"), cell, found, now))
            else:
                kept.append((seq, acked_at, dc))
        if lost:
            self.history[user] = kept
        self.lost_total += len(lost)
        return lost

    def snapshot(self) -> dict[str, object]:
        """Per user: the last acknowledged seq and its time; for ``sessions.json``."""
        return {
            "users": {
                f"u{u}": {"last_acked_seq": last[0], "last_acked_at": last[1]}
                for u, last in enumerate(self.last_acked)
                if last is not None
            },
            "lost": self.lost_total,
            "unverified_dropped": self.unverified_dropped,
        }


def _missing(seq: int, found: int, held: frozenset[int] | None, oldest: int | None) -> bool:
    """Whether a read that found ``found`` (and ``held``, oldest first ``oldest``, when it listed
    them) lacks ``seq``."""
    if seq > found:
        return True
    if not held or oldest is None or seq in held:
        return False
    return seq >= oldest  # below the oldest kept: trimmed by the store's window, not judged


def _stored(body: bytes | None) -> tuple[int, frozenset[int] | None] | None:
    """A session read's JSON answer: its ``seq`` (0 for null: nothing stored) and its ``seqs``
    (None when absent or not a list of integers); None when the answer is not one."""
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or "seq" not in doc:
        return None
    latest = _as_int(doc["seq"] if doc["seq"] is not None else 0)
    if latest is None:
        return None
    raw = doc.get("seqs")
    held = None
    if isinstance(raw, list):
        numbers = [_as_int(v) for v in raw]
        held = frozenset(n for n in numbers if n is not None) if None not in numbers else None
    return latest, held


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
