"""A self-contained HTML report: one file, charts inlined as SVG, no network needed.

Drill reports are read weeks later from a CI artifact, often offline; a page that fetches a
CDN script, a web font or a sibling image breaks exactly then. So the page carries
everything it shows, and tests/integration/test_report_browser.py loads it in headless
Chromium and fails on any request it makes.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from chaosdrill.report.charts import replicas_svg, timeline_svg
from chaosdrill.report.formatting import fmt_ms, fmt_pct, fmt_s, guarded_text
from chaosdrill.report.model import Evidence, ExperimentResult
from chaosdrill.report.rehearsals import rehearsal_row
from chaosdrill.slo import SloOverrides

__all__ = ["render_html", "write_html"]

_TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=fmt_pct, ms=fmt_ms, secs=fmt_s, guarded=guarded_text)
    env.filters["clock"] = lambda t: (
        "n/a" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    return env


def _markup(svg: str | None) -> Markup | None:
    """Our own chart's markup (matplotlib escapes the text it writes), safe to paste as is."""
    return None if svg is None else Markup(svg)


def _replicas(result: ExperimentResult, evidence: Evidence) -> Markup | None:
    title = f"{evidence.probe}: ready replicas"
    return _markup(replicas_svg(evidence.replicas, result.started, title))


def _charts(result: ExperimentResult) -> dict[str, object]:
    return {
        "timeline": _markup(timeline_svg(result)),
        "replicas": [_replicas(result, e) for e in result.evidence],
    }


def render_html(
    results: Sequence[ExperimentResult],
    title: str,
    slo: SloOverrides | None = None,
    rehearsals: Sequence[Mapping[str, Any]] = (),
) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(
        rehearsals=[rehearsal_row(r) for r in rehearsals],
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results=[(r, _charts(r)) for r in results],
        passed=sum(1 for r in results if r.passed),
        slo=slo or SloOverrides(),
    )


def write_html(
    results: Sequence[ExperimentResult],
    title: str,
    path: Path,
    slo: SloOverrides | None = None,
    rehearsals: Sequence[Mapping[str, Any]] = (),
) -> Path:
    path.write_text(render_html(results, title, slo, rehearsals), encoding="utf-8")
    return path
