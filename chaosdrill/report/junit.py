"""JUnit XML, so any CI shows a drill like a test run: one testcase per experiment.

A testcase fails when the experiment did not end as its file says it should, and errors
when the run itself broke (no journal: a finding about the drill, not about the system).
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from chaosdrill.report.model import ExperimentResult

__all__ = ["render_junit", "write_junit"]


def _details(result: ExperimentResult) -> str:
    lines = [
        f"expected status: {result.expected.value}",
        f"actual status: {result.actual.value if result.actual else 'none'}",
    ]
    lines += [f"failed probe ({p.phase}) {p.name}: {p.message}" for p in result.failed_probes]
    lines += [f"note: {n}" for n in result.notes]
    if result.journal_path is not None:
        lines.append(f"journal: {result.journal_path}")
    return "\n".join(lines)


def render_junit(results: Sequence[ExperimentResult], suite_name: str) -> str:
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(results)),
        failures=str(sum(1 for r in results if r.error is None and not r.passed)),
        errors=str(sum(1 for r in results if r.error is not None)),
        time=f"{sum(r.duration_s or 0.0 for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite, "testcase", classname=suite_name, name=result.name, time=f"{result.duration_s or 0.0:.3f}"
        )
        if result.error is not None:
            error = ET.SubElement(case, "error", message=result.error, type="DrillError")
            error.text = _details(result)
        elif not result.passed:
            actual = result.actual.value if result.actual else "none"
            failure = ET.SubElement(
                case,
                "failure",
                message=f"expected {result.expected.value}, got {actual}",
                type="UnexpectedOutcome",
            )
            failure.text = _details(result)
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _details(result)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Sequence[ExperimentResult], suite_name: str, path: Path) -> Path:
    path.write_text(render_junit(results, suite_name), encoding="utf-8")
    return path
