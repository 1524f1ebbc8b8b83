"""The durable fault ledger: what was injected, where, and how to undo it.

Every injecting action appends an ``inject`` record and fsyncs it *before* the fault
is applied; its rollback appends a ``reverted`` record. A fault whose ``inject`` has no
``reverted`` is active. Because the record is on disk before the fault exists, a
``kill -9`` at any moment leaves at worst a record for a fault that was never applied,
and reverting that is a no-op: every revert is idempotent.

The file is append-only JSON Lines guarded by ``flock``, so concurrent runners and
``chaosdrill recover`` never interleave half-written lines. A torn last line (a crash
mid-write) is skipped on replay.
"""

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from chaosdrill import paths
from chaosdrill.ledger_legacy import upgrade

__all__ = ["Fault", "FaultRecord", "Ledger", "default_ledger"]


@dataclass(frozen=True)
class Fault:
    """One injected fault and everything needed to revert it without the experiment.

    ``kind`` and ``target`` name the fault kind in the registry (``chaosdrill.faults``)
    whose ``undo(state)`` reverts it, from ``undo`` alone; ``key`` identifies the fault
    within its kind (a remove action with the same arguments matches on it).
    """

    kind: str
    target: str
    key: str
    description: str
    undo: dict[str, Any]
    ttl_s: float | None = None
    run_id: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)

    @property
    def expires_at(self) -> float | None:
        return None if self.ttl_s is None else self.at + self.ttl_s


Op = Literal["inject", "reverted"]


@dataclass(frozen=True)
class FaultRecord:
    """A fault with when (and how) it was reverted, if it was."""

    fault: Fault
    reverted_at: float | None
    how: str | None

    def to_dict(self) -> dict[str, Any]:
        f = self.fault
        return {
            "id": f.id,
            "kind": f.kind,
            "target": f.target,
            "key": f.key,
            "description": f.description,
            "injected_at": f.at,
            "reverted_at": self.reverted_at,
            "how": self.how,
        }


class Ledger:
    """An append-only, fsync'd JSON Lines file of inject/reverted records."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self, mode: str) -> Iterator[Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, mode, encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if "a" in mode else fcntl.LOCK_SH)
            try:
                yield fh
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._locked("a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def record(self, fault: Fault) -> Fault:
        """Write the fault durably; call this before injecting it."""
        self._append({"op": "inject", **asdict(fault)})
        return fault

    def mark_reverted(self, fault_id: str, how: str = "rollback") -> None:
        self._append({"op": "reverted", "id": fault_id, "at": time.time(), "how": how})

    def history(self) -> list[FaultRecord]:
        """Every fault ever recorded, oldest first, with its revert time if any."""
        if not self.path.exists():
            return []
        injected: dict[str, Fault] = {}
        reverted: dict[str, tuple[float, str]] = {}
        with self._locked("r") as fh:
            for raw in fh:
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # a torn line from a crash mid-write
                op = rec.pop("op", None)
                if op == "inject":
                    injected[rec["id"]] = Fault(**upgrade(rec))
                elif op == "reverted":
                    reverted.setdefault(rec["id"], (float(rec["at"]), str(rec.get("how", ""))))
        return [FaultRecord(f, *reverted.get(f.id, (None, None))) for f in injected.values()]

    def replay(self) -> list[Fault]:
        """The faults still active (recorded and never reverted), oldest first."""
        return [r.fault for r in self.history() if r.reverted_at is None]

    def is_reverted(self, fault_id: str) -> bool:
        return any(r.fault.id == fault_id and r.reverted_at is not None for r in self.history())

    def of_run(self, run_id: str) -> list[FaultRecord]:
        return [r for r in self.history() if r.fault.run_id == run_id]

    def active(
        self,
        *,
        kind: str | None = None,
        target: str | None = None,
        key: str | None = None,
        run_id: str | None = None,
    ) -> list[Fault]:
        return [
            f
            for f in self.replay()
            if (kind is None or f.kind == kind)
            and (target is None or f.target == target)
            and (key is None or f.key == key)
            and (run_id is None or f.run_id == run_id)
        ]


def default_ledger() -> Ledger:
    return Ledger(paths.ledger_file())
