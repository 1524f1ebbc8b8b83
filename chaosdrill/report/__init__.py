"""Reports of experiment runs: self-contained HTML with charts, Markdown, and JUnit XML.

Three formats because a drill has three audiences: people (HTML), pull requests and
terminals (Markdown), and CI dashboards (JUnit). All three render one list of
:class:`~chaosdrill.report.model.ExperimentResult`, so they cannot disagree.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosdrill.report.html import write_html
from chaosdrill.report.junit import write_junit
from chaosdrill.report.markdown import write_markdown
from chaosdrill.report.model import ExperimentResult, load_result
from chaosdrill.slo import SloOverrides

__all__ = ["ExperimentResult", "ReportFiles", "load_result", "write_reports"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    junit: Path


def write_reports(
    results: Sequence[ExperimentResult],
    out: Path,
    *,
    title: str,
    slo: SloOverrides | None = None,
    rehearsals: Sequence[Mapping[str, Any]] = (),
) -> ReportFiles:
    """Write ``index.html``, ``report.md`` and ``junit.xml`` into ``out``; ``rehearsals`` are
    the records of the drill's ``rehearse --auto`` runs (runbook, status, TTD, TTM, steps)."""
    out.mkdir(parents=True, exist_ok=True)
    return ReportFiles(
        html=write_html(results, title, out / "index.html", slo, rehearsals),
        markdown=write_markdown(results, title, out / "report.md", rehearsals),
        junit=write_junit(results, title, out / "junit.xml"),
    )
