"""JUnit XML, so any CI shows a drill like a test run: a testsuite per experiment, a testcase
per probe.

Each experiment's suite holds one ``outcome`` testcase (did the run end as its file says it
should?) and one testcase per probe the journal records: the hypothesis before the method,
probes in the method, the hypothesis after it (and continuous or rollback probes, if any).
A probe that failed is a ``<failure>`` carrying its message, a probe that skipped (its
output says ``skipped``, e.g. a mechanism probe before any fault) is ``<skipped>``.

A negative control (an experiment that expects to deviate, fail or be interrupted) *must*
see probes fail; there a failed probe is the evidence the control worked, so it passes and
says so, and only the ``outcome`` testcase fails when the run did not end as expected. That
keeps the XML in step with the drill's exit code. A probe the control names in
``expect.failing_probes`` is the exception: after the method it must fail, and it is a
``<failure>`` when it passed. A run that broke without a journal is a
single ``<error>`` (a finding about the drill, not about the system).
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from chaosdrill.expectation import Status
from chaosdrill.report.formatting import guarded_text
from chaosdrill.report.model import ExperimentResult, ProbeRun

__all__ = ["render_junit", "write_junit"]


def _details(result: ExperimentResult) -> str:
    lines = [
        f"expected status: {result.expected.value}",
        f"actual status: {result.actual.value if result.actual else 'none'}",
        f"guarded: {guarded_text(result.guarded)}" + (f" ({result.guard_note})" if result.guard_note else ""),
    ]
    lines += [f"failed probe ({p.phase}) {p.name}: {p.message}" for p in result.failed_probes]
    lines += [f"note: {n}" for n in result.notes]
    if result.journal_path is not None:
        lines.append(f"journal: {result.journal_path}")
    return "\n".join(lines)


def _outcome_case(suite: ET.Element, result: ExperimentResult) -> str:
    case = ET.SubElement(
        suite, "testcase", classname=result.name, name="outcome", time=f"{result.duration_s or 0.0:.3f}"
    )
    if result.error is not None:
        error = ET.SubElement(case, "error", message=result.error, type="DrillError")
        error.text = _details(result)
        return "error"
    if not result.passed:
        actual = result.actual.value if result.actual else "none"
        failure = ET.SubElement(
            case,
            "failure",
            message=f"expected {result.expected.value}, got {actual}",
            type="UnexpectedOutcome",
        )
        failure.text = _details(result)
        return "failure"
    ET.SubElement(case, "system-out").text = _details(result)
    return "passed"


def _probe_case(suite: ET.Element, result: ExperimentResult, probe: ProbeRun) -> str:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{result.name}.{probe.phase}",
        name=probe.name,
        time=f"{probe.duration_s or 0.0:.3f}",
    )
    if probe.verdict == "skipped":
        ET.SubElement(case, "skipped", message=probe.message)
        return "skipped"
    if probe.verdict == "failed" and result.expected is Status.COMPLETED:
        failure = ET.SubElement(case, "failure", message=probe.message, type="ProbeFailed")
        failure.text = f"{probe.provider}: {probe.message}"
        return "failure"
    required = probe.name in result.must_fail and probe.phase in ("after", "method")
    if required and probe.verdict == "passed":
        message = "this negative control requires the probe to fail, and it passed"
        failure = ET.SubElement(case, "failure", message=message, type="ProbeDidNotFail")
        failure.text = f"{probe.provider}: {probe.message}"
        return "failure"
    out = ET.SubElement(case, "system-out")
    if required:
        out.text = f"failed, as this negative control requires: {probe.message}"
    elif probe.verdict == "failed":
        out.text = f"failed, as this negative control expects ({result.expected.value}): {probe.message}"
    else:
        out.text = f"{probe.provider}: {probe.message}"
    return "passed"


def _suite(parent: ET.Element, result: ExperimentResult) -> dict[str, int]:
    suite = ET.SubElement(parent, "testsuite", name=result.name)
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("title", result.title),
        ("expected", result.expected.value),
        ("actual", result.actual.value if result.actual else "none"),
        ("verdict", result.verdict),
        ("guarded", guarded_text(result.guarded)),
        ("journal", str(result.journal_path or "")),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    kinds = [_outcome_case(suite, result)] + [_probe_case(suite, result, p) for p in result.probes]
    counts = {
        "tests": len(kinds),
        "failures": kinds.count("failure"),
        "errors": kinds.count("error"),
        "skipped": kinds.count("skipped"),
    }
    for key, count in counts.items():
        suite.set(key, str(count))
    suite.set("time", f"{result.duration_s or 0.0:.3f}")
    return counts


def render_junit(results: Sequence[ExperimentResult], suite_name: str) -> str:
    root = ET.Element("testsuites", name=suite_name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        for key, value in _suite(root, result).items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{sum(r.duration_s or 0.0 for r in results):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Sequence[ExperimentResult], suite_name: str, path: Path) -> Path:
    path.write_text(render_junit(results, suite_name), encoding="utf-8")
    return path
