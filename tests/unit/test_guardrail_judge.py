"""The guardrail's judgment granularity: one judgment per measurement window as it lands.

Pure logic (no clock, no file): windows are fed to ``Judge`` as the tail would read them.
"""

import pytest

from chaosdrill.controls.guardrail import Judge, Settings, WindowCounts

START = 1000.0
QUARTER = 0.25


def _quarter_windows(counts: list[tuple[int, int]], start: float = START) -> list[WindowCounts]:
    """0.25 s windows from ``start``, each (good, errors)."""
    return [
        WindowCounts(start + i * QUARTER, start + (i + 1) * QUARTER, good, bad)
        for i, (good, bad) in enumerate(counts)
    ]


def _first_breach(judge: Judge, windows: list[WindowCounts], batch: int = 1) -> float | None:
    """Feed ``windows`` in batches of ``batch`` (a poll may read several); the breach's time."""
    for i in range(0, len(windows), batch):
        judgment = judge.feed(windows[i : i + batch])
        if judgment is not None:
            return judgment.at
    return None


# 2.5 s of health at 100 req/s (25 per quarter), then every request fails: with the default
# settings (99.5 %, 14.4x, so 7.2 % errors over both windows) the first failing quarter holds
# 25 errors of 275 (9.1 %), so the breach shows in the window that ends 0.25 s after the onset.
HEALTHY = [(25, 0)] * 10
OUTAGE = [(0, 25)] * 8


def test_a_breach_is_judged_in_the_quarter_second_window_that_shows_it() -> None:
    judge = Judge(Settings())
    assert judge.feed(_quarter_windows(HEALTHY)) is None  # history at arming: judged once, healthy
    at = _first_breach(judge, _quarter_windows(HEALTHY + OUTAGE)[10:])
    assert at == pytest.approx(START + 2.75)


def test_the_same_outage_in_one_second_windows_is_seen_only_at_the_second() -> None:
    # What the guardrail saw before: the same data summed into 1 s windows.
    judge = Judge(Settings())
    seconds = [WindowCounts(START + i, START + i + 1, 100, 0) for i in range(2)]
    assert judge.feed(seconds) is None
    rest = [
        WindowCounts(START + 2, START + 3, 50, 50),  # health to 2.5 s, then the outage
        WindowCounts(START + 3, START + 4, 0, 100),
    ]
    assert _first_breach(judge, rest) == pytest.approx(START + 3.0)


def test_a_late_poll_still_reports_the_first_window_that_breached() -> None:
    judge = Judge(Settings())
    judge.feed(_quarter_windows(HEALTHY))
    # The poll fell behind: four windows arrive at once; the judgment is the first of them.
    assert _first_breach(judge, _quarter_windows(HEALTHY + OUTAGE)[10:], batch=4) == pytest.approx(
        START + 2.75
    )


def test_the_history_at_arming_is_judged_as_a_whole_not_window_by_window() -> None:
    # Two errors in the load's first quarter second (connections warming up) are a breach on
    # their own (2 of 25 = 8 %); by the time the guardrail is armed, 2.5 s of health dilute
    # them (2 of 250), and that is the one judgment made of the history.
    warmup = _quarter_windows([(23, 2)] + [(25, 0)] * 9)
    assert Judge(Settings()).feed(warmup) is None
    # Armed before the load began (an empty history), the same quarter seconds are judged
    # one by one, and the first of them breaches.
    early = Judge(Settings())
    assert early.feed([WindowCounts(START - QUARTER, START, 0, 0)]) is None
    assert _first_breach(early, warmup) == pytest.approx(START + QUARTER)


def test_too_few_requests_in_a_judgment_is_no_evidence() -> None:
    # A slow load: one request per quarter second. After 1 s of health every request fails;
    # while the short window (5 s) holds fewer than min_requests (20) requests, nothing trips,
    # however high the error ratio.
    def judged(failing: int) -> float | None:
        judge = Judge(Settings(min_requests=20))
        judge.feed(_quarter_windows([(1, 0)] * 4))
        return _first_breach(judge, _quarter_windows([(1, 0)] * 4 + [(0, 1)] * failing)[4:])

    assert judged(15) is None  # 19 requests, 15 of them failed
    assert judged(16) == pytest.approx(START + 20 * QUARTER)  # the 20th request is evidence


def test_a_blip_in_one_quarter_second_window_does_not_trip_a_long_healthy_run() -> None:
    # 30 s of health, then one quarter second of total failure: 25 errors in the short
    # window's 500 requests is 5 %, under the 7.2 % the limit needs.
    judge = Judge(Settings())
    healthy = _quarter_windows([(25, 0)] * 120)
    judge.feed(healthy[:1])
    assert _first_breach(judge, healthy[1:] + _quarter_windows([(0, 25)] + [(25, 0)] * 8, START + 30)) is None


def test_old_windows_leave_the_judge_so_memory_stays_flat() -> None:
    judge = Judge(Settings(long_window_s=30))
    judge.feed(_quarter_windows([(25, 0)]))
    _first_breach(judge, _quarter_windows([(25, 0)] * 400)[1:])
    assert len(judge.windows) == 120  # 30 s of quarter-second windows
    assert judge.windows[0].t1 > judge.windows[-1].t1 - 30
