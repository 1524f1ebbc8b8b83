"""The rehearsal's bookkeeping without a target: marks count once, a step marked detected or
mitigated sets the time when it passes, the alert beats the on-call for TTD, exit codes, and
the written record. Nothing here injects anything (the session is never opened)."""

import json
from pathlib import Path

import pytest

from chaosdrill.rehearsal.live import FiredAlert
from chaosdrill.rehearsal.record import Outcome, Status, write_record
from chaosdrill.rehearsal.runbook import Mark, parse_runbook
from chaosdrill.rehearsal.session import Session, verdict_of

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

TEXT = """---
title: T
severity: P1
service: s
triggers: [LatencyP99High]
steps:
  - {name: one, action: a, timeout_s: 1, marks: detected}
  - {name: two, action: b, timeout_s: 60, marks: mitigated}
  - {name: three, action: c, timeout_s: 60}
---
"""


class _Alerts:
    def __init__(self, first: FiredAlert | None) -> None:
        self.first = first

    def stop(self) -> None:
        pass


def session(tmp_path: Path) -> Session:
    book = parse_runbook(TEXT, tmp_path / "r.md")
    s = Session(book, out_dir=tmp_path / "out", configuration={}, mode="auto", max_duration_s=60)
    s.record.fault_at = 1000.0
    return s


def test_marks_count_once_and_steps_mark(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert s.mark(Mark.DETECTED, "on-call", at=1004.25)
    assert not s.mark(Mark.DETECTED, "on-call", at=1009.0)
    assert s.record.ttd_oncall_s == 4.25
    s.end_step(Outcome.PASSED)  # "one" marks detected, but it already was
    assert s.record.detected_by == "on-call"
    s.end_step(Outcome.FAILED)  # a failed "mitigated" step mitigates nothing
    assert s.record.ttm_oncall_s is None
    s.end_step(Outcome.DONE)
    assert s.finished and [r.outcome for r in s.record.steps] == [
        Outcome.PASSED,
        Outcome.FAILED,
        Outcome.DONE,
    ]


def test_alert_is_the_time_to_detect_when_it_fired(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.mark(Mark.DETECTED, "on-call", at=1009.0)
    s.alerts = _Alerts(FiredAlert("LatencyP99High", {"dc": "dc1"}, 1006.5))  # type: ignore[assignment]
    s._times()
    assert (s.record.ttd_s, s.record.ttd_alert_s, s.record.ttd_oncall_s) == (6.5, 6.5, 9.0)
    assert s.record.detected_by == "alert LatencyP99High"
    s.alerts = _Alerts(None)  # type: ignore[assignment]
    s.record.ttd_alert_s = None
    s._times()
    assert s.record.ttd_s == 9.0


@pytest.mark.parametrize(
    ("status", "code"), [(Status.PASSED, 0), (Status.FAILED, 1), (Status.ABORTED, 1), (Status.REFUSED, 2)]
)
def test_exit_codes(tmp_path: Path, status: Status, code: int) -> None:
    s = session(tmp_path)
    s.record.status = status
    assert s.record.exit_code == code


def test_written_record(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.note("paged the IC", at=1002.0)
    s.end_step(Outcome.SKIPPED)
    s.record.status = Status.ABORTED
    path = write_record(s.record, tmp_path / "out")
    data = json.loads(path.read_text())
    assert data["status"] == "aborted" and data["steps"][0]["outcome"] == "skipped"
    assert data["notes"] == [{"at_s": 2.0, "step": "one", "text": "paged the IC"}]
    md = (tmp_path / "out" / "rehearsal.md").read_text()
    assert "| one | skipped |" in md and "+2.0 s (one): paged the IC" in md


def test_probe_verdicts() -> None:
    assert verdict_of({"ok": True}) and verdict_of(0.99) and verdict_of(None)
    assert not verdict_of({"ok": False}) and not verdict_of(False)
