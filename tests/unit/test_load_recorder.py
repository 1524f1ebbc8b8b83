"""Recorder windows and the measurements reading API, fed directly (no network)."""

import json
from pathlib import Path

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.load import measurements as m
from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict
from chaosdrill.load.recorder import Recorder, StreamInfo

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T0 = 1_000_000.0
OK = Verdict(Outcome.OK)
CACHE = Verdict(Outcome.DEGRADED)
BAD_DEGRADED = Verdict(Outcome.DEGRADED, malformed=True)
REJ = Verdict(Outcome.REJECTED)
REJ_BARE = Verdict(Outcome.REJECTED, no_retry_after=True)


def err(reason: ErrorReason) -> Verdict:
    return Verdict(Outcome.ERROR, reason)


def _recorder(path: Path, rates: list[float] | None = None) -> Recorder:
    streams = [StreamInfo("chat", "acme", "interactive"), StreamInfo("bulk", "beta", "batch")]
    return Recorder(
        path,
        streams,
        window_s=1.0,
        start=T0,
        meta={"url": "http://x"},
        target_rates=lambda: rates or [10.0, 2.0],
    )


def test_windows_by_completion_time_and_contract_keys(tmp_path: Path) -> None:
    path = tmp_path / "measurements.jsonl"
    r = _recorder(path)
    r.sent(0, T0 + 0.1)
    r.sent(0, T0 + 0.2)
    r.record(0, OK, 0.010, T0 + 0.5)
    r.sent(1, T0 + 0.3)
    # Completes in the second window although it was sent in the first.
    r.record(0, err(ErrorReason.S503), 0.900, T0 + 1.1)
    r.record(1, REJ_BARE, 0.001, T0 + 1.2)
    # Nothing in window 3, then one in window 4.
    r.record(0, CACHE, 0.002, T0 + 3.5)
    r.close(T0 + 3.75)

    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["meta"]["url"] == "http://x"
    assert lines[0]["meta"]["started"] == T0
    windows = m.read_windows(path)
    assert [(w.t0 - T0, w.t1 - T0) for w in windows] == [(0, 1), (1, 2), (2, 3), (3, 3.75)]
    first, second, third, fourth = windows
    assert first.streams["chat"].sent == 2 and first.streams["chat"].ok == 1
    assert first.streams["bulk"].sent == 1 and first.streams["bulk"].completed == 0
    assert second.streams["chat"].errors == {"503": 1}
    assert second.streams["bulk"].rejected_without_retry_after == 1
    assert third.streams["chat"].completed == 0
    assert fourth.streams["chat"].degraded == 1
    expected = {
        "tenant",
        "priority",
        "target_rate",
        "sent",
        "ok",
        "degraded",
        "rejected",
        "error",
        "errors",
        "rejected_without_retry_after",
        "degraded_malformed",
        "hist",
        "hist_good",
    }
    assert set(lines[1]["streams"]["chat"]) == expected
    assert lines[1]["streams"]["bulk"]["target_rate"] == 2.0


def test_aggregate_counts_ratios_and_percentiles(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    r = _recorder(path)
    for i in range(90):
        r.record(0, OK, 0.010, T0 + 0.01 * i)
    for i in range(5):
        r.record(0, BAD_DEGRADED, 0.020, T0 + 0.95 + 0.001 * i)
    for _ in range(4):
        r.record(0, err(ErrorReason.TIMEOUT), 2.0, T0 + 1.5)
    r.record(1, REJ, 0.5, T0 + 1.6)
    r.close(T0 + 2.0)
    windows = m.read_windows(path)

    total = m.aggregate(windows)
    assert (total.ok, total.degraded, total.rejected, total.error) == (90, 5, 1, 4)
    assert total.completed == 100
    assert total.good_ratio == pytest.approx(0.95)
    assert total.errors == {"timeout": 4}
    assert total.degraded_malformed == 5
    # 3 significant digits: within 0.1 %.
    assert total.percentile(50) == pytest.approx(0.010, rel=1e-3)
    assert total.percentile(99) == pytest.approx(2.0, rel=1e-3)
    assert total.percentile(99, good_only=True) == pytest.approx(0.020, rel=1e-3)
    assert m.aggregate(windows, tenants=["beta"]).rejected == 1
    assert m.aggregate(windows, streams=["ch*"]).rejected == 0
    first = m.aggregate(windows, until=T0 + 1.0)
    assert (first.windows, first.ok, first.error) == (1, 90, 0)
    assert m.aggregate(windows, since=T0 + 1.0).error == 4
    empty = m.aggregate(windows, since=T0 + 100)
    assert empty.good_ratio is None and empty.percentile(99) is None
    with pytest.raises(BadInput):
        total.percentile(101)
    assert total.to_dict()["completed"] == 100


def test_timeline_points(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    r = _recorder(path, rates=[50.0, 0.0])
    for i in range(10):
        r.record(0, OK, 0.001, T0 + 0.05 * i)
    r.record(0, err(ErrorReason.RESET), 0.001, T0 + 1.5)
    r.close(T0 + 2.0)
    points = m.timeline(m.read_windows(path))
    assert [p.completed for p in points] == [10, 1]
    assert points[0].throughput == pytest.approx(10.0)
    assert points[1].good_ratio == 0.0
    assert points[0].target_rate == 50.0


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    r = _recorder(path)
    r.record(0, OK, 0.001, T0 + 0.5)
    r.close(T0 + 1.0)
    with open(path, "a") as fh:
        fh.write('{"t0": 1, "t1": 2, "streams": {"chat": {"ok": 4')
    windows = m.read_windows(path)
    assert len(windows) == 1 and windows[0].streams["chat"].ok == 1
    assert m.read_meta(path)["url"] == "http://x"


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        m.read_windows(tmp_path / "none.jsonl")


def test_latency_is_clamped_into_histogram_range(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    r = _recorder(path)
    r.record(0, OK, -1.0, T0 + 0.1)
    r.record(0, OK, 120.0, T0 + 0.2)
    r.close(T0 + 1.0)
    s = m.aggregate(m.read_windows(path))
    assert s.completed == 2
    assert s.percentile(100) == pytest.approx(60.0, rel=1e-3)


def test_close_is_idempotent_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    r = _recorder(path)
    r.sent(0, T0)
    r.record(0, OK, 0.001, T0 + 1.5)
    assert r.totals()["chat"] == {"sent": 1, "ok": 1, "degraded": 0, "rejected": 0, "error": 0}
    r.close(T0 + 2.0)
    r.close(T0 + 5.0)
    assert len(m.read_windows(path)) == 2
