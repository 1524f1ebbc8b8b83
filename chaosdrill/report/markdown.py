"""A Markdown report: the same verdicts as the HTML, readable in a PR comment or a terminal."""

from collections.abc import Sequence
from pathlib import Path

from chaosdrill.report.formatting import fmt_ms, fmt_pct, fmt_s
from chaosdrill.report.model import ExperimentResult

__all__ = ["render_markdown", "write_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _live(seconds: float | None) -> str:
    return "" if seconds is None else f" (live {fmt_s(seconds)})"


def render_markdown(results: Sequence[ExperimentResult], title: str) -> str:
    passed = sum(1 for r in results if r.passed)
    lines = [
        f"# {title}",
        "",
        f"{passed} of {len(results)} experiment(s) ended as expected.",
        "",
        "| experiment | expected | actual | verdict | duration | availability | p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        actual = r.actual.value if r.actual else "none"
        lines.append(
            f"| {_cell(r.name)} | {r.expected.value} | {actual} | {r.verdict} | {fmt_s(r.duration_s)} | "
            f"{fmt_pct(r.availability)} | {fmt_ms(r.p99_ms)} |"
        )
    for r in results:
        lines += ["", f"## {r.name}: {r.title}", ""]
        if r.error:
            lines.append(f"**Error:** {r.error}")
        if r.detections:
            lines += ["Detection:", ""]
            lines += [
                f"- {_cell(d.alert)}: {d.measure} {fmt_s(d.seconds)}"
                + (f" (allowed {fmt_s(d.within_s)})" if d.within_s is not None else "")
                + f", probe `{d.probe}`"
                for d in r.detections
            ]
            lines.append("")
        if r.failed_probes:
            lines += ["Failed probes:", ""]
            lines += [f"- ({p.phase}) `{p.name}`: {_cell(p.message)}" for p in r.failed_probes]
            lines.append("")
        if r.faults or r.ledger_faults:
            lines += ["Faults injected:", ""]
            lines += [f"- `{f.name}` {f.provider} {f.arguments} ({f.status})" for f in r.faults]
            lines += [f"- ledger: {_cell(d.description)}{_live(d.live_s)}" for d in r.ledger_faults]
            lines.append("")
        lines += [f"_Note: {_cell(n)}_" for n in r.notes]
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(results: Sequence[ExperimentResult], title: str, path: Path) -> Path:
    path.write_text(render_markdown(results, title), encoding="utf-8")
    return path
