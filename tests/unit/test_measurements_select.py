"""Reading measurements at the default quarter-second windows: the strict selection a
baseline uses (``inside``), and summaries that merge latency histograms only when asked,
giving exactly what an eager merge gives."""

from pathlib import Path

import pytest

from chaosdrill.load import measurements as m
from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict
from chaosdrill.load.profile import DEFAULT_WINDOW_S
from chaosdrill.load.recorder import Recorder, StreamInfo, new_histogram

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T0 = 2_000_000.0
OK = Verdict(Outcome.OK)
ERR = Verdict(Outcome.ERROR, ErrorReason.S503)


def _record(path: Path, latencies_ms: list[float], every_s: float = 0.01) -> list[m.Window]:
    """One stream, one request each ``every_s``; every 10th an error. Quarter-second windows."""
    rec = Recorder(
        path,
        [StreamInfo("chat", "acme", "interactive")],
        window_s=DEFAULT_WINDOW_S,
        start=T0,
        meta={},
        target_rates=lambda: [100.0],
    )
    for i, ms in enumerate(latencies_ms):
        rec.record(0, ERR if i % 10 == 9 else OK, ms / 1000, T0 + i * every_s)
    rec.close(T0 + len(latencies_ms) * every_s)
    return m.read_windows(path)


def test_windows_are_a_quarter_second_by_default(tmp_path: Path) -> None:
    windows = _record(tmp_path / "m.jsonl", [5.0] * 100)
    assert DEFAULT_WINDOW_S == 0.25
    assert [round(w.t1 - w.t0, 6) for w in windows] == [0.25] * 4


def test_inside_keeps_only_windows_wholly_within_the_bounds(tmp_path: Path) -> None:
    windows = _record(tmp_path / "m.jsonl", [5.0] * 200)  # 2 s: eight windows
    # A fault injected 1.1 s in: the window [1.0, 1.25) straddles it and is left out.
    before = m.inside(windows, until=T0 + 1.1)
    assert [w.t1 - T0 for w in before] == [0.25, 0.5, 0.75, 1.0]
    # The midpoint rule (the ``fault`` window) counts the straddling window on neither side
    # here (its midpoint 1.125 is after 1.1): it belongs to the fault.
    assert m.aggregate(windows, since=T0 + 1.1).windows == 4
    # With a start as well (``baseline_s``), and open on both sides.
    assert [w.t0 - T0 for w in m.inside(windows, since=T0 + 0.5, until=T0 + 1.1)] == [0.5, 0.75]
    assert m.inside(windows) == windows
    assert m.inside(windows, since=T0 + 1.9) == []


def test_a_summary_merges_histograms_only_when_asked_and_exactly(tmp_path: Path) -> None:
    latencies = [1.0 + (i * 37) % 400 for i in range(400)]  # spread over 1..400 ms
    windows = _record(tmp_path / "m.jsonl", latencies)
    eager, eager_good = new_histogram(), new_histogram()
    for i, ms in enumerate(latencies):
        eager.record_value(int(ms * 1000))
        if i % 10 != 9:
            eager_good.record_value(int(ms * 1000))

    summary = m.aggregate(windows)
    assert summary._hist is None and summary._hist_good is None  # counting needs no histogram
    assert (summary.ok, summary.error) == (360, 40)
    for q in (50.0, 90.0, 99.0, 100.0):
        assert summary.percentile(q) == pytest.approx(eager.get_value_at_percentile(q) / 1e6)
        assert summary.percentile(q, good_only=True) == pytest.approx(
            eager_good.get_value_at_percentile(q) / 1e6
        )

    # Windows added after a percentile was read are merged on the next read.
    first, rest = windows[:2], windows[2:]
    growing = m.aggregate(first)
    early = growing.percentile(100)
    for w in rest:
        growing.add(w, list(w.streams.values()))
    assert growing.hist.get_total_count() == 400
    assert growing.percentile(100) == pytest.approx(eager.get_value_at_percentile(100) / 1e6)
    assert early is not None and early < growing.percentile(100)  # the slowest came later


def test_one_window_summary_is_that_window_decoded(tmp_path: Path) -> None:
    windows = _record(tmp_path / "m.jsonl", [3.0] * 20 + [300.0] * 5)
    points = m.timeline(windows)
    assert len(points) == 1
    assert points[0].p99_s == pytest.approx(0.3, rel=0.01) and points[0].p50_s == pytest.approx(
        0.003, rel=0.01
    )
