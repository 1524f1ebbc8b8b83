"""A self-contained HTML report: one file, charts inlined as base64 PNG, no network needed.

Drill reports are read weeks later from a CI artifact, often offline; a page that fetches a
CDN script or a sibling image breaks exactly then. So the page carries everything it shows.
"""

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from chaosdrill.report.charts import timeline_png
from chaosdrill.report.formatting import fmt_ms, fmt_pct, fmt_s
from chaosdrill.report.model import ExperimentResult
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
    env.filters.update(pct=fmt_pct, ms=fmt_ms, secs=fmt_s)
    env.filters["clock"] = lambda t: (
        "n/a" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    return env


def _chart(result: ExperimentResult) -> str | None:
    png = timeline_png(result)
    return None if png is None else base64.b64encode(png).decode("ascii")


def render_html(results: Sequence[ExperimentResult], title: str, slo: SloOverrides | None = None) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        results=[(r, _chart(r)) for r in results],
        passed=sum(1 for r in results if r.passed),
        slo=slo or SloOverrides(),
    )


def write_html(
    results: Sequence[ExperimentResult], title: str, path: Path, slo: SloOverrides | None = None
) -> Path:
    path.write_text(render_html(results, title, slo), encoding="utf-8")
    return path
