"""RTO, RPO, cells and failback as pure functions of windows (chaosdrill.load.objectives)."""

from typing import Any

import pytest

from chaosdrill.load import objectives as obj
from chaosdrill.load.measurements import Window, parse_window

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T = 5_000.0


def _window(
    i: int, cells: dict[str, tuple[int, int, dict[str, int]]], session: dict[str, Any] | None = None
) -> Window:
    """Window ``i`` (1 s from T + i) with ``cells``: cell -> (ok, errors, served_by)."""
    stream: dict[str, Any] = {
        "cells": {c: {"ok": ok, "error": e, "served_by": by} for c, (ok, e, by) in cells.items()},
    }
    if session is not None:
        stream["session"] = session
    w = parse_window({"t0": T + i, "t1": T + i + 1, "streams": {"s": stream}})
    assert w is not None
    return w


def _outage(bad: int, *, home_back_at: int = 99) -> list[Window]:
    """dc2's cell: home before T+3, ``bad`` windows of errors from T+3, then served by dc3 (by
    dc2 again from window ``home_back_at``); dc1's cell is fine throughout."""
    out = []
    for i in range(12):
        if i < 3 or i >= home_back_at:
            dc2 = (10, 0, {"dc2": 10})
        elif i < 3 + bad:
            dc2 = (0, 10, {"dc2": 10})
        else:
            dc2 = (10, 0, {"dc3": 10})
        out.append(_window(i, {"dc1": (10, 0, {"dc1": 10}), "dc2": dc2}))
    return out


def test_rto_is_the_start_of_the_first_good_run_after_the_fault() -> None:
    windows = _outage(bad=2)
    points = obj.cell_series(windows, ["dc2"])
    assert obj.time_to_recover(points, T + 3.2, 0.995, 3) == pytest.approx(1.8)
    # Recovered in window 5, but a bound that ends before three good windows finds none.
    assert obj.time_to_recover(points, T + 3.2, 0.995, 3, until=T + 7) is None
    assert obj.time_to_recover(points, T + 3.2, 0.995, 3, until=T + 8) == pytest.approx(1.8)
    # A flicker does not count: one good window, a bad one, then good ones.
    flicker = _outage(bad=4)
    flicker[4] = _window(4, {"dc2": (10, 0, {"dc3": 10})})
    assert obj.time_to_recover(obj.cell_series(flicker, ["dc2"]), T + 3.0, 0.995, 2) == pytest.approx(4.0)
    assert obj.time_to_recover(points, T + 3.2, 0.995, 3, min_requests=11) is None


def test_the_affected_cells_are_those_the_lost_dc_served_and_the_others_keep_their_slo() -> None:
    windows = _outage(bad=2)
    assert obj.home_cells_of(windows, "dc2", T + 3) == ["dc2"]
    assert obj.home_cells_of(windows, "dc3", T + 3) == []
    assert obj.cells_seen(windows) == {"dc1", "dc2"}
    counts = obj.cell_availability(windows, T + 3, T + 12)
    assert counts["dc1"] == (90, 0) and counts["dc2"] == (70, 20)


def test_failback_is_the_first_window_served_from_home_and_its_rto_needs_home_and_good() -> None:
    windows = _outage(bad=2, home_back_at=9)
    points = obj.cell_series(windows, ["dc2"])
    home = obj.first_home_window(points, "dc2", T + 7.5)
    assert home is not None and home.t0 == T + 9
    assert obj.time_to_recover(points, T + 7.5, 0.995, 2, home="dc2") == pytest.approx(1.5)
    assert obj.time_to_recover(points, T + 7.5, 0.995, 2, home="dc1") is None


def _lost(rows: list[list[Any]]) -> dict[str, Any]:
    acks = [r[2] for r in rows]
    return {
        "writes": 10,
        "acked": 9,
        "reads": 4,
        "read_failed": 1,
        "lost": len(rows),
        "lost_first_ack": min(acks, default=None),
        "lost_last_ack": max(acks, default=None),
        "lost_writes": rows,
    }


def test_rpo_counts_lost_writes_in_writes_and_seconds_and_filters_by_ack_time() -> None:
    windows = [
        _window(0, {}, _lost([])),
        _window(
            1,
            {},
            _lost(
                [["u1", 4, T + 0.2, "dc2", "dc2", 3, T + 1.5], ["u2", 9, T + 0.9, "dc2", "dc2", 8, T + 1.5]]
            ),
        ),
        _window(2, {}, _lost([["u3", 7, T + 1.8, "dc3", "dc2", 6, T + 2.5]])),
    ]
    every = obj.lost_writes(windows)
    assert (every.lost, every.session_windows, every.acked, every.reads, every.read_failed) == (
        3,
        3,
        27,
        12,
        3,
    )
    assert every.rpo_s == pytest.approx(1.6)
    assert every.by("acked_by") == {"dc2": 2, "dc3": 1}
    found_later = obj.lost_writes(windows, since=T + 2)
    assert found_later.lost == 1 and found_later.rpo_s == 0.0
    during = obj.lost_writes(windows, acked_since=T + 0.5, acked_until=T + 2)
    assert during.lost == 2 and during.rpo_s == pytest.approx(0.9)
    assert obj.lost_writes(_outage(bad=1)).session_windows == 0
