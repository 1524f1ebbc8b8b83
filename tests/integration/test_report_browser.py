"""The drill report in a real browser: it renders, its charts are drawn, it fetches nothing.

The report comes from a real drill: ``chaosdrill drill run`` on a plan of three sandbox
experiments (an AZ's latency trips the breaker and the fallback; half of a DC's replicas
are killed; the guardrail stops a drill gone wrong), so its journals and measurements are what ``make drill`` produces. Headless
Chromium (tests/browser_support.py) loads the page from disk, and the test asserts:

- the sections a reader needs are in the DOM (summary, one section per experiment, Guarded,
  Mechanisms beside the timeline, Probes, Faults);
- every chart is an SVG whose data (latency lines, outcome bars, replicas steps) has real,
  non-zero geometry as the browser laid it out;
- the page made no request (DevTools saw none; the loopback proxy, which refuses all,
  was asked for nothing but Chromium's own background calls);
- a full-page screenshot is a non-blank PNG;
- its JUnit has a suite per experiment and a testcase per probe entry of each journal.

A second test feeds the same harness a page that *does* fetch and *does* have a blank chart,
so each check is shown able to fail. Run under the heavy lock:
``flock /tmp/chaosdrill-heavy.lock .venv/bin/pytest tests/integration/test_report_browser.py``.
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_support import headless_chromium
from PIL import Image

from chaosdrill.report import load_result, write_reports

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
# Breaker and fallback evidence; autoscaling evidence; a run the guardrail stops (Guarded: yes).
EXPERIMENTS = [
    "experiments/sandbox/az-latency-breaker.yaml",
    "experiments/sandbox/kill-half-dc-replicas.yaml",
    "experiments/sandbox/guardrail-abort.yaml",
]

# What the page shows, measured in the browser: sections, headings, and each chart's data
# elements with the box the browser laid them out in.
PROBE_PAGE = """
(() => {
  const box = (el) => { const b = el.getBBox(); return {w: b.width, h: b.height}; };
  const charts = [...document.querySelectorAll('figure.chart')].map((fig) => {
    const svg = fig.querySelector('svg');
    if (!svg) return {kind: fig.className, svg: null};
    const rect = svg.getBoundingClientRect();
    const data = [...svg.querySelectorAll('g[id^="series-"] > path, g[id^="bars-"] > path, g[id="replicas"] > path')]
      .map((p) => ({group: p.parentNode.id, length: p.getTotalLength(), ...box(p)}));
    return {kind: fig.className, svg: {w: rect.width, h: rect.height}, data};
  });
  return {
    summary_rows: document.querySelectorAll('body > table tr').length,
    sections: [...document.querySelectorAll('section')].map((s) => ({
      id: s.id,
      headings: [...s.querySelectorAll('h3')].map((h) => h.textContent.trim()),
      guarded: (s.querySelector('p.guarded') || {}).textContent || null,
      mechanisms: [...s.querySelectorAll('aside.mechanisms .mechanism')].map((m) => ({
        title: m.querySelector('h4').textContent.trim(),
        facts: [...m.querySelectorAll('ul.measures li')].map((li) => li.textContent.trim()),
      })),
      probes: s.querySelectorAll('table.probes tr').length - 1,
      beside: (() => {
        const fig = s.querySelector('.evidence-row > figure');
        const aside = s.querySelector('.evidence-row > aside');
        if (!fig || !aside) return null;
        const a = fig.getBoundingClientRect(), b = aside.getBoundingClientRect();
        return {figure_right: a.right, aside_left: b.left, top_gap: Math.abs(a.top - b.top)};
      })(),
    })),
    charts,
  };
})()
"""


def _drill(workdir: Path) -> Path:
    plan = {
        "name": "report-browser",
        "target": "sandbox",
        "schedule": "0 3 1 * *",
        "root": str(ROOT),
        "experiments": EXPERIMENTS,
        "slo": {"availability": 0.9995},
        "timeout_s": 240,
    }
    plan_path = workdir / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    out = workdir / "reports" / "drill"
    done = subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", "drill", "run", str(plan_path), "--out", str(out)],
        cwd=workdir,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    # 1 would be a finding about the sandbox, still a real report; 2 is a broken drill.
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def drill_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _drill(tmp_path_factory.mktemp("report-browser"))


def _assert_drawn(chart: dict[str, Any]) -> None:
    assert chart["svg"] is not None, f"{chart['kind']}: no <svg>"
    assert chart["svg"]["w"] > 100 and chart["svg"]["h"] > 50, chart
    data = chart["data"]
    assert data, f"{chart['kind']}: no data elements at all"
    lines = [d for d in data if not d["group"].startswith("bars-")]
    bars = [d for d in data if d["group"].startswith("bars-")]
    assert any(d["length"] > 10 and d["w"] > 10 for d in lines), f"{chart['kind']}: no line drawn: {lines}"
    if "timeline" in chart["kind"]:
        assert {d["group"] for d in lines} >= {"series-p50", "series-p95", "series-p99"}
        assert sum(1 for d in bars if d["w"] > 0 and d["h"] > 0) >= 5, "the outcome bars are blank"


def _assert_not_blank(png: Path) -> None:
    with Image.open(png) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 800 and height >= 1000, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None  # more colours than that is certainly not blank
    assert len(colours) > 50, f"{len(colours)} colours: a blank or near-blank page"
    white = max(count for count, _ in colours)
    assert white < 0.97 * width * height, "almost every pixel is one colour"


def _assert_junit_counts_every_probe(out: Path, names: list[str]) -> None:
    """The real drill's JUnit: a suite per experiment, an outcome case plus one per probe entry."""
    root = ET.parse(out / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == names
    for name in names:
        journal = json.loads((out / name / "journal.json").read_text(encoding="utf-8"))
        states = journal["steady_states"]
        entries = [
            *(states.get("before") or {}).get("probes", []),
            *[e for state in states.get("during") or [] for e in state.get("probes", [])],
            *(states.get("after") or {}).get("probes", []),
            *journal.get("run", []),
            *journal.get("rollbacks", []),
        ]
        probes = sum(1 for e in entries if e["activity"]["type"] == "probe")
        cases = suites[name].findall("testcase")
        assert len(cases) == probes + 1 and suites[name].get("tests") == str(probes + 1), name
        assert cases[0].get("name") == "outcome"


def test_drill_report_renders_offline_with_drawn_charts(drill_report: Path, tmp_path: Path) -> None:
    index = drill_report / "index.html"
    names = [Path(e).stem for e in EXPERIMENTS]
    results = [load_result(drill_report / n / "journal.json", name=n) for n in names]

    with headless_chromium(tmp_path) as browser:
        page = browser.load(index.as_uri())
        seen = browser.evaluate(PROBE_PAGE)
        shot = browser.screenshot(tmp_path / "report.png")

    assert page.requests and page.requests[0] == index.as_uri(), page.requests
    assert page.external_requests() == [], "the report fetched something"
    assert page.foreign_proxied() == [], "the browser tried to reach the network for the page"
    assert page.console_errors == []

    assert seen["summary_rows"] == 1 + len(results)
    sections = {s["id"]: s for s in seen["sections"]}
    assert list(sections) == [r.name for r in results]
    for result in results:
        section = sections[result.name]
        assert {"Mechanisms", "Probes", "Faults injected"} <= set(section["headings"])
        assert section["guarded"] is not None and section["guarded"].startswith("Guarded: ")
        assert section["guarded"].split()[1] in {"yes", "no", "unknown"}
        # every probe of the journal is listed, passing ones included
        assert section["probes"] == len(result.probes) > 0
        # the mechanisms sit beside the timeline (the window is wide enough), not below it
        beside = section["beside"]
        assert (
            beside is not None
            and beside["aside_left"] >= beside["figure_right"] - 1
            and beside["top_gap"] < 5
        )
        # each mechanism the journal holds is shown, with its verdict and its numbers or its message
        assert [m["title"] for m in section["mechanisms"]] == [
            f"{e.mechanism} · {e.verdict}" for e in result.evidence
        ]
        for shown, evidence in zip(section["mechanisms"], result.evidence, strict=True):
            assert len(shown["facts"]) == len(evidence.measures) + len(evidence.moments)
    # the guardrail stopped that run: it was guarded whatever `drill run` adds to the others
    assert sections["guardrail-abort"]["guarded"].startswith("Guarded: yes")
    breaker = [m for m in sections["az-latency-breaker"]["mechanisms"] if m["title"].startswith("breaker")]
    assert breaker, "the breaker probes' evidence is missing"
    mechanisms = {m["title"].split(" · ")[0] for s in sections.values() for m in s["mechanisms"]}
    # a probe that failed has no output: its module names it ("autoscaling" for "self_healing")
    families = {name.replace("_", "") for name in mechanisms}
    assert {"breaker", "fallback", "guardrail"} <= families, mechanisms
    assert {"selfhealing", "autoscaling"} & families, mechanisms

    charts = seen["charts"]
    timelines = [c for c in charts if "timeline" in c["kind"]]
    assert len(timelines) == len(results)  # both runs recorded load
    replicas = sum(1 for r in results for e in r.evidence if e.replicas)
    assert len(charts) == len(timelines) + replicas
    for chart in charts:
        _assert_drawn(chart)

    _assert_not_blank(shot)
    _assert_junit_counts_every_probe(drill_report, names)
    keep = os.environ.get("CHAOSDRILL_REPORT_SCREENSHOT")  # e.g. to attach to a review
    if keep:
        Path(keep).write_bytes(shot.read_bytes())


def _page_that_fetches(tmp_path: Path) -> Path:
    """A report with one real replicas chart, one blank chart, and three things to fetch."""
    journal = {
        "experiment": {
            "title": "t",
            "extensions": [{"name": "chaosdrill", "expect": {"status": "completed"}}],
        },
        "start": "2026-01-01T00:00:00+00:00",
        "duration": 10.0,
        "status": "completed",
        "deviated": False,
        "steady_states": {
            "before": {"probes": []},
            "after": {
                "probes": [
                    {
                        "activity": {
                            "type": "probe",
                            "name": "replicas",
                            "provider": {"type": "python", "module": "probes.autoscaling", "func": "f"},
                        },
                        "status": "succeeded",
                        "output": {"ok": True, "replicas": [[1.0, 4], [2.0, 2], [4.0, 3], [6.0, 4]]},
                    }
                ]
            },
        },
        "run": [],
        "rollbacks": [],
    }
    run = tmp_path / "synthetic"
    run.mkdir()
    (run / "journal.json").write_text(json.dumps(journal), encoding="utf-8")
    html = write_reports([load_result(run / "journal.json")], tmp_path / "out", title="t").html
    text = html.read_text(encoding="utf-8")
    extra = (
        '<figure class="chart blank"><svg width="300" height="120"><g id="series-x"><path d="M 0 0"/></g></svg></figure>'
        '<img alt="" src="http://example.invalid/pixel.png">'
        '<link rel="stylesheet" href="https://example.invalid/font.css">'
        '<script src="http://127.0.0.1:9/tracker.js"></script>'
    )
    html.write_text(text.replace("</body>", extra + "</body>"), encoding="utf-8")
    return html


def test_the_checks_catch_requests_and_blank_charts(tmp_path: Path) -> None:
    page_path = _page_that_fetches(tmp_path)
    with headless_chromium(tmp_path) as browser:
        page = browser.load(page_path.as_uri())
        seen = browser.evaluate(PROBE_PAGE)
    fetched = page.external_requests()
    assert "http://example.invalid/pixel.png" in fetched
    assert "https://example.invalid/font.css" in fetched
    assert "http://127.0.0.1:9/tracker.js" in fetched  # loopback is not exempt
    # the proxy saw them too (and refused them): nothing left the machine
    foreign = " ".join(page.foreign_proxied())
    assert "GET http://example.invalid/pixel.png" in foreign and "CONNECT example.invalid:443" in foreign
    (replicas,) = [c for c in seen["charts"] if "replicas" in c["kind"]]
    _assert_drawn(replicas)  # the real chart on the same page is drawn
    (blank,) = [c for c in seen["charts"] if "blank" in c["kind"]]
    with pytest.raises(AssertionError, match="no line drawn"):
        _assert_drawn(blank)


def test_a_blank_screenshot_is_caught(tmp_path: Path) -> None:
    Image.new("RGB", (1400, 2000), "white").save(tmp_path / "blank.png")
    with pytest.raises(AssertionError, match="colours"):
        _assert_not_blank(tmp_path / "blank.png")
