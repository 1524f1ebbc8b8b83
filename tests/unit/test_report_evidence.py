"""Probe verdicts, mechanism evidence and Guarded in every report format, from synthetic journals.

The journals are shaped like the ones ``chaos run`` writes (the browser test renders a real
one); here each field is set on purpose, so each rule can be shown to hold and to fail.
"""

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.report import load_result, write_reports
from chaosdrill.report.charts import replicas_svg
from chaosdrill.report.markdown import render_markdown
from chaosdrill.report.probes import Measure

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T0 = 1_700_000_000.0
SKIP = {"ok": True, "skipped": "before the method: no fault to judge yet"}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _probe(
    name: str,
    module: str,
    output: Any,
    *,
    status: str = "succeeded",
    tolerance_met: bool = True,
    error: str | None = None,
    duration: float = 0.05,
    **arguments: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "activity": {
            "type": "probe",
            "name": name,
            "tolerance": {"type": "jsonpath", "path": "$.ok", "expect": True},
            "provider": {"type": "python", "module": module, "func": "f", "arguments": arguments},
        },
        "status": status,
        "output": output,
        "tolerance_met": tolerance_met,
        "duration": duration,
    }
    if error is not None:
        entry["exception"] = [
            "Traceback (most recent call last):\n",
            f"chaoslib.exceptions.ActivityFailed: chaoslib.exceptions.ActivityFailed: {error}\n",
        ]
    return entry


def _journal(
    tmp: Path,
    *,
    expect: str = "completed",
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    run: list[dict[str, Any]] | None = None,
    deviated: bool = False,
    controls: list[dict[str, Any]] | None = None,
    extension: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    doc = {
        "experiment": {
            "title": "evidence",
            "extensions": [{"name": "chaosdrill", "expect": {"status": expect}, **(extension or {})}],
            "controls": controls or [],
        },
        "start": _iso(T0),
        "end": _iso(T0 + 30),
        "duration": 30.0,
        "status": "completed",
        "deviated": deviated,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": before},
            "after": {"steady_state_met": not deviated, "probes": after},
            "during": [],
        },
        "run": run or [],
        "rollbacks": [],
        "chaosdrill": {
            "run_id": "r1",
            "faults": [
                {"kind": "latency", "description": "800 ms", "injected_at": T0 + 5, "reverted_at": T0 + 15},
                {"kind": "pods", "description": "kill 1", "injected_at": T0 + 20, "reverted_at": T0 + 21},
            ],
            **(extra or {}),
        },
    }
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "journal.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


BREAKER_OPENED = {
    "ok": True,
    "mechanism": "breaker",
    "breaker": "dc-a/az-1",
    "opened_after_s": 1.2,
    "judged_by": "max(gateway_breaker_state) > 0",
}
REPLICAS = [[T0 + 20, 4], [T0 + 20.5, 2], [T0 + 22, 3], [T0 + 23.5, 4]]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Two probes before (one skipped), a method probe, four after: passed, failed, evidence."""
    return _journal(
        tmp_path / "mixed",
        before=[
            _probe("availability", "probes.slo", True),
            _probe("breaker-opened", "probes.breaker", SKIP, fault_kind="latency"),
        ],
        run=[_probe("budget-mid-way", "probes.slo", {"ok": True, "budget_consumed_min": 0.8})],
        after=[
            _probe("availability", "probes.slo", True),
            _probe("breaker-opened", "probes.breaker", BREAKER_OPENED, fault_kind="latency"),
            _probe(
                "breaker-closed",
                "probes.breaker",
                None,
                status="failed",
                tolerance_met=False,
                error="breaker dc-a/az-1 has not stayed closed since the fault was reverted",
            ),
            _probe(
                "replicas-recovered",
                "probes.autoscaling",
                {"ok": True, "mechanism": "autoscaling", "replicas": REPLICAS, "ttd_ms": 450},
            ),
        ],
        deviated=True,
    )


def _count_probes(journal: Path) -> int:
    doc = json.loads(journal.read_text())
    states = doc["steady_states"]
    entries = [*states["before"]["probes"], *states["after"]["probes"], *doc["run"]]
    return sum(1 for e in entries if e["activity"]["type"] == "probe")


def test_every_probe_has_a_verdict(mixed: Path) -> None:
    result = load_result(mixed)
    verdicts = [(p.phase, p.name, p.verdict) for p in result.probes]
    assert verdicts == [
        ("before", "availability", "passed"),
        ("before", "breaker-opened", "skipped"),
        ("method", "budget-mid-way", "passed"),
        ("after", "availability", "passed"),
        ("after", "breaker-opened", "passed"),
        ("after", "breaker-closed", "failed"),
        ("after", "replicas-recovered", "passed"),
    ]
    (failed,) = result.failed_probes
    # chaoslib's doubled exception name is gone, the message itself is kept whole
    assert failed.message == "breaker dc-a/az-1 has not stayed closed since the fault was reverted"


def test_mechanism_evidence_is_read_generically(mixed: Path) -> None:
    result = load_result(mixed)
    by_probe = {e.probe: e for e in result.evidence}
    # the skipped probe before the method is not evidence; the SLO probe's True is not either
    assert list(by_probe) == ["budget-mid-way", "breaker-opened", "breaker-closed", "replicas-recovered"]
    opened = by_probe["breaker-opened"]
    assert (opened.mechanism, opened.verdict, opened.subject) == ("breaker", "passed", "breaker dc-a/az-1")
    assert opened.measures == (Measure("opened_after_s", 1.2, "s"),)
    assert opened.judged_by == "max(gateway_breaker_state) > 0"
    # timed from the latest *latency* fault (not the later pods fault): T0 + 5 + 1.2
    assert opened.moments == (("opened_at", pytest.approx(T0 + 6.2)),)
    # a failed mechanism probe has no output: its module names the mechanism, its message is shown
    closed = by_probe["breaker-closed"]
    assert (closed.mechanism, closed.verdict) == ("breaker", "failed")
    assert "has not stayed closed" in closed.message and closed.measures == ()
    budget = by_probe["budget-mid-way"]
    assert (budget.mechanism, budget.measures) == ("slo", (Measure("budget_consumed_min", 0.8, "min"),))
    replicas = by_probe["replicas-recovered"]
    assert replicas.replicas == tuple((float(t), float(n)) for t, n in REPLICAS)
    assert replicas.measures == (Measure("ttd_ms", 450.0, "ms"),)
    assert [m.text for m in (*opened.measures, *budget.measures, *replicas.measures)] == [
        "1.20 s",
        "0.80 min",
        "450 ms",
    ]


def test_junit_has_a_suite_per_experiment_and_a_case_per_probe(mixed: Path, tmp_path: Path) -> None:
    other = _journal(tmp_path / "steady", before=[_probe("availability", "probes.slo", True)], after=[])
    results = [load_result(mixed), load_result(other)]
    files = write_reports(results, tmp_path / "out", title="drill")
    root = ET.parse(files.junit).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["mixed", "steady"]
    for suite, journal in zip(suites, (mixed, other), strict=True):
        cases = suite.findall("testcase")
        assert len(cases) == _count_probes(journal) + 1  # + the outcome testcase
        assert suite.get("tests") == str(len(cases))
    cases = {(c.get("classname"), c.get("name")): c for c in suites[0].findall("testcase")}
    skipped = cases[("mixed.before", "breaker-opened")].find("skipped")
    assert skipped is not None and skipped.get("message") == SKIP["skipped"]
    failure = cases[("mixed.after", "breaker-closed")].find("failure")
    assert failure is not None and "has not stayed closed" in str(failure.get("message"))
    assert cases[("mixed.method", "budget-mid-way")].find("failure") is None
    assert suites[0].get("failures") == "2" and suites[0].get("skipped") == "1"  # outcome + probe
    assert root.get("tests") == str(_count_probes(mixed) + _count_probes(other) + 2)
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["expected"] == "completed" and props["actual"] == "deviated"


def test_a_negative_control_passes_on_the_probe_it_expects_to_fail(tmp_path: Path) -> None:
    failing = _probe("breaker-opened", "probes.breaker", None, status="failed", error="breaker never opened")
    journal = _journal(tmp_path / "control", expect="deviated", before=[], after=[failing], deviated=True)
    result = load_result(journal)
    assert result.passed
    root = ET.fromstring(write_reports([result], tmp_path / "out", title="t").junit.read_text())
    assert root.get("failures") == "0" and root.get("tests") == "2"
    case = root.find("testsuite/testcase[@name='breaker-opened']")
    assert case is not None and case.find("failure") is None
    out = case.find("system-out")
    assert out is not None and "negative control expects (deviated): breaker never opened" in str(out.text)
    # and the same control ending without a deviation fails its outcome
    journal = _journal(
        tmp_path / "control2",
        expect="deviated",
        before=[],
        after=[_probe("b", "probes.breaker", BREAKER_OPENED)],
    )
    root = ET.fromstring(write_reports([load_result(journal)], tmp_path / "o2", title="t").junit.read_text())
    assert root.get("failures") == "1"
    assert root.find("testsuite/testcase[@name='outcome']/failure") is not None


GUARDRAIL = {"name": "g", "provider": {"type": "python", "module": "chaosdrill.controls.guardrail"}}


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"extra": {"guardrail": {"armed": True, "breached": False}}}, "yes"),
        ({"extra": {"guardrail": {"armed": False, "reason": "no load measurements"}}}, "no"),
        ({"controls": [GUARDRAIL]}, "yes"),
        ({"extension": {"guardrail": {"enabled": False, "reason": "a soak without load"}}}, "no"),
        ({}, "no"),
    ],
)
def test_guarded_is_read_from_the_run(tmp_path: Path, kwargs: dict[str, Any], shown: str) -> None:
    result = load_result(_journal(tmp_path / "g", before=[], after=[], **kwargs))
    md = render_markdown([result], "t")
    assert f"Guarded: **{shown}**" in md
    html = write_reports([result], tmp_path / "out", title="t").html.read_text()
    assert f"Guarded: <b>{shown}</b>" in html
    if "extension" in kwargs:
        assert "opted out: a soak without load" in md


def test_guarded_is_unknown_without_a_journal(tmp_path: Path) -> None:
    from chaosdrill.expectation import Status
    from chaosdrill.report import ExperimentResult

    broken = ExperimentResult(name="x", title="x", expected=Status.COMPLETED, actual=None, error="no journal")
    assert "Guarded: **unknown**" in render_markdown([broken], "t")


def test_html_shows_evidence_beside_the_timeline(mixed: Path, tmp_path: Path) -> None:
    html = write_reports([load_result(mixed)], tmp_path / "out", title="t").html.read_text()
    row = html[html.index('<div class="evidence-row">') :]
    aside = row[row.index('<aside class="mechanisms">') : row.index("</aside>")]
    assert "opened after: <b>1.20 s</b>" in aside
    assert "opened at: <b>2023-11-14 22:13:26 UTC</b> (t+6.2 s)" in aside
    assert "budget consumed: <b>0.80 min</b>" in aside
    assert "has not stayed closed since the fault was reverted" in aside
    assert aside.count('<figure class="chart replicas"') == 1
    chart = aside[aside.index('<figure class="chart replicas"') :]
    assert 'id="replicas"' in chart[: chart.index("</figure>")]
    # every probe, passing ones included, is listed with its verdict
    probes = html[html.index('<table class="probes">') :]
    assert probes.count('<td class="passed">passed</td>') == 5
    assert probes.count('<td class="failed">failed</td>') == 1
    assert probes.count('<td class="skipped">skipped</td>') == 1
    assert "http://" not in html and "https://" not in html


def test_markdown_carries_the_same_evidence(mixed: Path) -> None:
    md = render_markdown([load_result(mixed)], "t")
    assert (
        "| breaker | passed | `breaker-opened` (after) | breaker dc-a/az-1 | "
        "opened after 1.20 s; opened at 22:13:26 UTC (t+6.2 s) |" in md
    )
    assert "| breaker | failed | `breaker-closed` (after) |  | breaker dc-a/az-1 has not stayed closed" in md
    assert "replicas 4 → 2 → 3 → 4" in md
    assert "Probes (1 failed of 7):" in md
    assert "- (before) `breaker-opened` **skipped**: before the method" in md


def test_replicas_chart_draws_the_steps(tmp_path: Path) -> None:
    svg = replicas_svg([(float(t), float(n)) for t, n in REPLICAS], T0, "ready")
    assert svg is not None and svg.startswith("<svg")
    group = svg[svg.index('id="replicas"') :]
    path = re.search(r'<path d="([^"]+)"', group)
    assert path is not None
    # a step line through 4 points has more than 4 vertices, and its y values differ
    coords = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", path.group(1))]
    ys = coords[1::2]
    assert len(ys) > 4 and len(set(ys)) >= 3
    assert replicas_svg([], T0, "none") is None


def test_a_tripped_guardrail_is_evidence_with_its_moments(tmp_path: Path) -> None:
    section = {
        "armed": True,
        "breached": True,
        "errors_began_at": T0 + 3,
        "breached_at": T0 + 4.8,
        "faults_removed_at": T0 + 4.9,
        "breach_to_removed_s": 0.1,
        "short_burn": 18.1,
        "settings": {"slo": 0.995},
    }
    result = load_result(_journal(tmp_path / "g", before=[], after=[], extra={"guardrail": section}))
    (guard,) = result.evidence
    assert (guard.mechanism, guard.verdict, guard.phase) == ("guardrail", "tripped", "control")
    assert dict(guard.moments) == {
        "errors_began_at": T0 + 3,
        "breached_at": T0 + 4.8,
        "faults_removed_at": T0 + 4.9,
    }
    assert [m.text for m in guard.measures] == ["0.10 s", "18.10"]
    assert result.notes == ()  # shown as evidence, not as a raw JSON note
    md = render_markdown([result], "t")
    assert "| guardrail | tripped | `chaosdrill-guardrail` (control) |" in md
    assert "breached at 22:13:24 UTC (t+4.8 s)" in md
    # not armed: no evidence, and the reason stays visible as a note
    result = load_result(
        _journal(
            tmp_path / "n", before=[], after=[], extra={"guardrail": {"armed": False, "reason": "no load"}}
        )
    )
    assert result.evidence == () and any("no load" in n for n in result.notes)


def test_a_probe_the_control_requires_to_fail_is_a_failure_when_it_passed(tmp_path: Path) -> None:
    extension = {"expect": {"status": "deviated", "failing_probes": ["breaker-opened"]}}
    slo_failed = _probe("availability", "probes.slo", None, status="failed", error="below the SLO")
    breaker_passed = _probe("breaker-opened", "probes.breaker", BREAKER_OPENED)
    journal = _journal(
        tmp_path / "elsewhere",
        expect="deviated",
        before=[_probe("breaker-opened", "probes.breaker", SKIP)],
        after=[slo_failed, breaker_passed],
        deviated=True,
        extension=extension,
    )
    doc = json.loads(journal.read_text())
    doc["experiment"]["steady-state-hypothesis"] = {
        "probes": [{"type": "probe", "name": "availability"}, {"type": "probe", "name": "breaker-opened"}]
    }
    journal.write_text(json.dumps(doc))
    result = load_result(journal)
    assert result.must_fail == ("breaker-opened",)
    assert result.actual is not None and result.actual.value == "deviated-elsewhere" and not result.passed
    root = ET.fromstring(write_reports([result], tmp_path / "out", title="t").junit.read_text())
    after = root.find("testsuite/testcase[@classname='elsewhere.after'][@name='breaker-opened']")
    assert after is not None
    failure = after.find("failure")
    assert failure is not None and "requires the probe to fail" in str(failure.get("message"))
    slo = root.find("testsuite/testcase[@name='availability'][@classname='elsewhere.after']")
    assert slo is not None and slo.find("failure") is None  # collateral in a control: not a finding
    # before the method the named probe skipped: no requirement there
    before = root.find("testsuite/testcase[@classname='elsewhere.before']")
    assert before is not None and before.find("skipped") is not None
    assert root.get("failures") == "2"  # the outcome and the probe that did not fail
