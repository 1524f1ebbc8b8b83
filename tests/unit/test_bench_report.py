"""The bench runner turns each benchmark's JSON into honest rows: a miss says no and why,
a pending item is not counted as met, and BENCHMARKS.md carries the date, machine and command."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench_support import load_benchmark

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


run = load_benchmark("run")


def _throughput(ours: float, locust: float, ok: bool) -> dict[str, object]:
    return {
        "chaosdrill_sustained_rps": ours,
        "locust_fasthttp_rps": locust,
        "wrk_rps": 60000,
        "cores": {"distinct": True},
        "pass": ok,
    }


def test_a_met_target_says_yes_with_the_ratio_against_the_peer() -> None:
    (row,) = run.rows_throughput(_throughput(24000, 8000, True))
    assert row.met == "yes"
    assert row.ratio.startswith("3.00x Locust")
    assert row.why_missed == ""


def test_a_missed_target_says_no_and_why() -> None:
    (row,) = run.rows_throughput(_throughput(12000, 8000, False))
    assert row.met == "no"
    assert row.ratio.startswith("1.50x")
    assert row.why_missed


def test_latency_ratio_is_measured_over_requested() -> None:
    case = {
        "requested_ms": 100,
        "jitter_ms": 50,
        "bounds_ms": [50, 150],
        "samples": 6000,
        "clean_median_ms": 0.2,
        "added_median_ms": 103.0,
        "added_min_ms": 49.0,
        "added_max_ms": 170.0,
        "added_p1_ms": 51.0,
        "added_p99_ms": 149.0,
        "fraction_outside_bounds_with_slack": 0.02,
        "median_error_ms": 3.0,
        "median_ok": False,
        "bounds_ok": False,
        "pass": False,
    }
    (row,) = run.rows_latency({"cases": {"j": case}, "connections": 64, "toxiproxy": "v2.12.0"})
    assert row.ratio.startswith("1.030")
    assert row.met == "no"
    assert "3.0 ms" in row.why_missed and "2.00 %" in row.why_missed


def test_abort_is_judged_on_the_ledger_figure_and_pending_is_not_a_miss() -> None:
    (pending,) = run.rows_abort({"pending": "guardrail not available"})
    assert pending.met == "pending"
    (row,) = run.rows_abort(
        {
            "runs": 12,
            "aborted_by_guardrail": 12,
            "statuses": ["interrupted"],
            "cut_to_restored_median_s": 2.5,
            "cut_to_restored_max_s": 3.0,
            "breach_to_removed_median_s": 0.1,
            "peer_without_guardrail": {"cut_to_restored_s": 8.2, "pause_s": 8},
            "pause_s": 25,
            "pass": False,
        }
    )
    assert row.met == "no" and "median 2.5 s" in row.why_missed
    assert row.ratio == "0.30x"


def test_parse_takes_the_json_object_after_noise() -> None:
    assert run._parse('warming up\n{\n  "pass": true,\n  "x": {"y": 1}\n}\n') == {"pass": True, "x": {"y": 1}}
    assert run._parse("no json here") is None


def test_the_file_names_date_machine_command_and_lists_misses_and_pending(tmp_path: Path) -> None:
    bench = run.BENCHES[0]
    abort = next(b for b in run.BENCHES if b.name == "time_to_abort")
    outcomes = [
        run.Outcome(bench, "missed", 10.0, _throughput(12000, 8000, False)),
        run.Outcome(abort, "pending", 0.0, {"pending": "guardrail not available"}),
    ]
    mach = {
        "cores": "2",
        "cores_usable": "2",
        "cpu": "Test CPU",
        "memory": "1.0 GiB",
        "kernel": "6",
        "python": "3.11",
    }
    text = run.render(
        outcomes, mach, {"wrk": "wrk 4"}, datetime(2026, 1, 2, 3, 4, tzinfo=UTC), (1.0, 2.0), False, tmp_path
    )
    assert "2026-01-02 03:04" in text and "Test CPU" in text and "`make bench`" in text
    assert "| figure | chaosdrill | peer | ratio | target | met? |" in text
    misses = text.split("## Missed targets")[1].split("## Pending")[0]
    assert "1. Load generation" in misses and "Time to abort" not in misses
    assert "guardrail not available" in text.split("## Pending")[1]


def test_faults_left_behind_fail_the_abort_figure_whatever_its_speed() -> None:
    (row,) = run.rows_abort(
        {
            "runs": 12,
            "aborted_by_guardrail": 12,
            "statuses": ["interrupted"],
            "cut_to_restored_median_s": 1.0,
            "cut_to_restored_max_s": 1.1,
            "runs_that_left_faults": [7],
            "left_behind": {"7": ["p1: enabled=False toxics=0", "p2: enabled=False toxics=0"]},
            "evidence": {"7": "/tmp/evidence"},
            "peer_without_guardrail": {"cut_to_restored_s": 8.1, "pause_s": 8, "left_behind": []},
            "pause_s": 25,
            "pass": False,
        }
    )
    assert row.met == "no"
    assert "left faults behind" in row.ours
    assert "left 2 proxies disabled" in row.why_missed and "/tmp/evidence" in row.why_missed
