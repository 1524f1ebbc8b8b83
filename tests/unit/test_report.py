"""Reports from a synthetic journal and synthetic measurements written by the test itself."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from chaosdrill.expectation import Status
from chaosdrill.report import load_result, write_reports
from chaosdrill.report.markdown import render_markdown
from chaosdrill.report.model import availability_of, read_windows
from chaosdrill.slo import SloOverrides

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T0 = 1_700_000_000.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _hist(latencies_us: list[int]) -> str:
    h = HdrHistogram(1, 60_000_000, 3)
    for v in latencies_us:
        h.record_value(v)
    return h.encode().decode("ascii")


def _write_measurements(path: Path, windows: list[dict[str, Any]]) -> None:
    lines = [json.dumps({"meta": {"run_id": "r1", "latency_unit": "us"}})]
    for i, w in enumerate(windows):
        stream = {
            "tenant": "t1",
            "priority": "interactive",
            "target_rate": 50,
            "sent": w["ok"] + w["degraded"] + w["rejected"] + w["error"],
            "ok": w["ok"],
            "degraded": w["degraded"],
            "rejected": w["rejected"],
            "error": w["error"],
            "errors": {"503": w["error"]} if w["error"] else {},
            "rejected_without_retry_after": 0,
            "degraded_malformed": 0,
            "hist": _hist(w["lat"]),
            "hist_good": _hist(w["lat"]),
        }
        lines.append(json.dumps({"t0": T0 + i, "t1": T0 + i + 1, "streams": {"interactive": stream}}))
    path.write_text("\n".join(lines) + "\n{torn", encoding="utf-8")


def _activity(kind: str, name: str, start: float, end: float, status: str = "succeeded") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "activity": {
            "type": kind,
            "name": name,
            "provider": {
                "type": "python",
                "module": "actions.latency",
                "func": "add",
                "arguments": {"ms": 300},
            },
        },
        "status": status,
        "start": _iso(start),
        "end": _iso(end),
        "duration": end - start,
        "output": None,
    }
    if status != "succeeded":
        entry["exception"] = ["Traceback ...", "ActivityFailed: p99 800 ms above threshold 500 ms\n"]
    return entry


def _journal(tmp: Path, *, expect: str, deviated: bool, measurements: Path | None) -> Path:
    after_probe = {
        "activity": {"type": "probe", "name": "p99-below-500ms", "tolerance": True},
        "output": False,
        "status": "succeeded",
        "tolerance_met": not deviated,
        "start": _iso(T0 + 6),
        "end": _iso(T0 + 6.1),
    }
    journal: dict[str, Any] = {
        "experiment": {
            "title": "Latency on one AZ keeps p99 under 500 ms",
            "extensions": [{"name": "chaosdrill", "expect": {"status": expect}}],
        },
        "start": _iso(T0),
        "end": _iso(T0 + 8),
        "duration": 8.0,
        "status": "completed",
        "deviated": deviated,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": []},
            "after": {"steady_state_met": not deviated, "probes": [after_probe]},
            "during": [],
        },
        "run": [_activity("action", "add-latency", T0 + 2, T0 + 2.1)],
        "rollbacks": [_activity("action", "remove-latency", T0 + 7, T0 + 7.1)],
        "chaosdrill": {
            "run_id": "r1",
            "faults": [
                {
                    "description": "300 ms on dc1-az-a-replicas",
                    "injected_at": T0 + 2.05,
                    "reverted_at": T0 + 7.05,
                    "how": "rollback",
                }
            ],
        },
    }
    if measurements is not None:
        journal["chaosdrill"]["measurements"] = str(measurements)
    path = tmp / "journal.json"
    path.write_text(json.dumps(journal), encoding="utf-8")
    return path


SLOW = [200_000] * 95 + [900_000] * 5
WINDOWS = [
    {"ok": 100, "degraded": 0, "rejected": 0, "error": 0, "lat": [20_000] * 100},
    {"ok": 100, "degraded": 0, "rejected": 0, "error": 0, "lat": [20_000] * 100},
    {"ok": 80, "degraded": 10, "rejected": 5, "error": 10, "lat": SLOW},
    {"ok": 90, "degraded": 5, "rejected": 5, "error": 0, "lat": SLOW},
    {"ok": 100, "degraded": 0, "rejected": 0, "error": 0, "lat": [20_000] * 100},
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "latency-az"
    folder.mkdir()
    _write_measurements(folder / "measurements.jsonl", WINDOWS)
    return folder


def test_windows_merge_counts_and_percentiles(run_dir: Path) -> None:
    windows, p99 = read_windows(run_dir / "measurements.jsonl")
    assert [w.error for w in windows] == [0, 0, 10, 0, 0]
    assert windows[0].p99_ms == pytest.approx(20.0, rel=0.01)
    assert windows[2].p99_ms == pytest.approx(900.0, rel=0.01)
    assert windows[2].p50_ms == pytest.approx(200.0, rel=0.01)
    # degraded answers count as available; 429s count neither way, errors against it
    assert availability_of(windows) == pytest.approx(485 / 495)
    assert p99 == pytest.approx(900.0, rel=0.01)


def test_result_from_journal(run_dir: Path) -> None:
    journal = _journal(
        run_dir, expect="completed", deviated=True, measurements=run_dir / "measurements.jsonl"
    )
    result = load_result(journal)
    assert result.expected is Status.COMPLETED
    assert result.actual is Status.DEVIATED
    assert not result.passed
    assert [p.name for p in result.failed_probes] == ["p99-below-500ms"]
    assert [f.name for f in result.faults] == ["add-latency"]
    (fault,) = result.ledger_faults
    assert fault.description == "300 ms on dc1-az-a-replicas"
    assert fault.live_s == pytest.approx(5.0)
    assert len(result.windows) == 5


def test_html_markdown_junit(run_dir: Path, tmp_path: Path) -> None:
    good_dir = tmp_path / "steady"
    good_dir.mkdir()
    bad = load_result(
        _journal(run_dir, expect="completed", deviated=True, measurements=run_dir / "measurements.jsonl")
    )
    good = load_result(_journal(good_dir, expect="completed", deviated=False, measurements=None))
    files = write_reports([bad, good], tmp_path / "out", title="drill", slo=SloOverrides(availability=0.9995))

    html = files.html.read_text(encoding="utf-8")
    assert "unexpected" in html and "as expected" in html
    assert html.count('<figure class="chart timeline"') == 1  # only the run with measurements
    chart = html[html.index('<figure class="chart timeline"') :]
    assert chart.index("<svg") < chart.index("</figure>")  # an inline SVG, no image to fetch
    assert 'id="series-p99"' in chart and 'id="bars-error"' in chart
    assert "<img" not in html and "<script" not in html and "<link" not in html
    assert "http://" not in html and "https://" not in html and "<?xml" not in html
    assert "add-latency" in html and "p99-below-500ms" in html
    assert "for 5.0 s (reverted by rollback)" in html

    root = ET.parse(files.junit).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"latency-az", "steady"}
    # an outcome testcase and the one probe (after) per experiment
    assert root.get("tests") == "4" and root.get("failures") == "2"
    bad_cases = {c.get("name"): c for c in suites["latency-az"].iter("testcase")}
    failure = bad_cases["outcome"].find("failure")
    assert failure is not None and failure.get("message") == "expected completed, got deviated"
    probe_failure = bad_cases["p99-below-500ms"].find("failure")
    assert probe_failure is not None and "not within tolerance" in str(probe_failure.get("message"))
    assert bad_cases["p99-below-500ms"].get("classname") == "latency-az.after"
    assert all(c.find("failure") is None for c in suites["steady"].iter("testcase"))

    md = files.markdown.read_text(encoding="utf-8")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| experiment | expected | actual | verdict")
    assert rows[1].startswith("| latency-az | completed | deviated | unexpected | 8.0 s | 97.980% |")
    assert rows[2].startswith("| steady | completed | completed | as expected | 8.0 s | n/a | n/a |")


def test_markdown_escapes_pipes_in_messages(run_dir: Path) -> None:
    journal = _journal(run_dir, expect="deviated", deviated=True, measurements=None)
    doc = json.loads(journal.read_text())
    doc["steady_states"]["after"]["probes"][0]["output"] = "x|y"
    journal.write_text(json.dumps(doc))
    result = load_result(journal, name="az|a")
    assert result.passed  # it was expected to deviate
    md = render_markdown([result], "t")
    assert "| az\\|a | deviated | deviated | as expected |" in md
    assert 'output "x\\|y" not within tolerance' in md


def test_alert_probes_show_time_to_detect_and_notify(run_dir: Path, tmp_path: Path) -> None:
    journal = _journal(run_dir, expect="completed", deviated=False, measurements=None)
    doc = json.loads(journal.read_text())
    doc["steady_states"]["after"]["probes"] += [
        {
            "activity": {"type": "probe", "name": "page-fires"},
            "status": "succeeded",
            "output": {
                "ok": True,
                "alert": "DatacenterErrorBudgetBurnFast{dc=dc2}",
                "time_to_detect_s": 2.46,
                "within_s": 10,
            },
        },
        {
            "activity": {"type": "probe", "name": "page-notified"},
            "status": "succeeded",
            "output": {"ok": True, "alert": "DatacenterErrorBudgetBurnFast{dc=dc2}", "time_to_notify_s": 3.9},
        },
        {  # a failed probe measured nothing
            "activity": {"type": "probe", "name": "other"},
            "status": "failed",
            "output": {"time_to_detect_s": 99.0},
        },
    ]
    journal.write_text(json.dumps(doc))
    result = load_result(journal)
    assert [(d.probe, d.measure, d.seconds, d.within_s) for d in result.detections] == [
        ("page-fires", "time to detect", 2.46, 10.0),
        ("page-notified", "time to notify", 3.9, None),
    ]
    md = render_markdown([result], "t")
    assert (
        "- DatacenterErrorBudgetBurnFast{dc=dc2}: time to detect 2.5 s (allowed 10.0 s), probe `page-fires`"
        in md
    )
    assert "time to notify 3.9 s" in md
    files = write_reports([result], tmp_path / "out", title="drill")
    html = files.html.read_text(encoding="utf-8")
    assert "<h3>Detection</h3>" in html and "time to detect" in html and "2.5 s" in html
