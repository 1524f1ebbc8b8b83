"""A Markdown report: the same verdicts as the HTML, readable in a PR comment or a terminal."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosdrill.report.formatting import fmt_ms, fmt_pct, fmt_s, guarded_text
from chaosdrill.report.model import Evidence, ExperimentResult
from chaosdrill.report.rehearsals import rehearsal_row

__all__ = ["render_markdown", "write_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _live(seconds: float | None) -> str:
    return "" if seconds is None else f" (live {fmt_s(seconds)})"


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S UTC")


def _evidence_line(e: Evidence, started: float | None) -> str:
    facts = [f"{m.label} {m.text}" for m in e.measures]
    for key, at in e.moments:
        since = f" (t+{fmt_s(at - started)})" if started is not None else ""
        facts.append(f"{key.replace('_', ' ')} {_clock(at)}{since}")
    if e.replicas:
        facts.append("replicas " + " → ".join(f"{n:g}" for _, n in e.replicas))
    line = f"| {_cell(e.mechanism)} | {e.verdict} | `{_cell(e.probe)}` ({e.phase}) | {_cell(e.subject)} | "
    line += _cell("; ".join(facts))
    if e.message:
        line += ("; " if facts else "") + _cell(e.message)
    return line + " |"


def render_markdown(
    results: Sequence[ExperimentResult], title: str, rehearsals: Sequence[Mapping[str, Any]] = ()
) -> str:
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
        guard = f"Guarded: **{guarded_text(r.guarded)}**"
        lines += [guard + (f" ({_cell(r.guard_note)})" if r.guard_note else ""), ""]
        if r.error:
            lines.append(f"**Error:** {r.error}")
        if r.evidence:
            lines += [
                "Mechanisms:",
                "",
                "| mechanism | verdict | probe | subject | evidence |",
                "|---|---|---|---|---|",
            ]
            lines += [_evidence_line(e, r.started) for e in r.evidence]
            lines.append("")
        if r.detections:
            lines += ["Detection:", ""]
            lines += [
                f"- {_cell(d.alert)}: {d.measure} {fmt_s(d.seconds)}"
                + (f" (allowed {fmt_s(d.within_s)})" if d.within_s is not None else "")
                + f", probe `{d.probe}`"
                for d in r.detections
            ]
            lines.append("")
        if r.probes:
            lines += [f"Probes ({len(r.failed_probes)} failed of {len(r.probes)}):", ""]
            lines += [f"- ({p.phase}) `{p.name}` **{p.verdict}**: {_cell(p.message)}" for p in r.probes]
            lines.append("")
        if r.faults or r.ledger_faults:
            lines += ["Faults injected:", ""]
            lines += [f"- `{f.name}` {f.provider} {f.arguments} ({f.status})" for f in r.faults]
            lines += [f"- ledger: {_cell(d.description)}{_live(d.live_s)}" for d in r.ledger_faults]
            lines.append("")
        lines += [f"_Note: {_cell(n)}_" for n in r.notes]
    if rehearsals:
        lines += ["", "## Rehearsals", "", "| runbook | status | time to detect | time to mitigate | steps |"]
        lines.append("|---|---|---|---|---|")
        for row in map(rehearsal_row, rehearsals):
            lines.append(
                f"| {_cell(row.runbook)} | {row.status} | {fmt_s(row.ttd_s)} | {fmt_s(row.ttm_s)} | {row.steps} |"
            )
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(
    results: Sequence[ExperimentResult], title: str, path: Path, rehearsals: Sequence[Mapping[str, Any]] = ()
) -> Path:
    path.write_text(render_markdown(results, title, rehearsals), encoding="utf-8")
    return path
