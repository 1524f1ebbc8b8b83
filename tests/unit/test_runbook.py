"""Runbook parsing: the shipped runbooks parse into typed steps; errors name file and field."""

from pathlib import Path

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.rehearsal.runbook import Severity, load_runbook, parse_runbook

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

REPO = Path(__file__).resolve().parents[2]
GOOD = """---
title: Slow zone
severity: P1
service: llm-inference-api
triggers: [InferenceLatencyP99High]
steps:
  - name: look
    action: Look at the dashboard.
    timeout_s: 60
  - name: verify
    action: Check the SLO.
    check: {module: probes.slo, func: availability_at_least, arguments: {target: 0.995}}
    timeout_s: 120
---
# Slow zone
Body text.
"""


@pytest.mark.parametrize("path", sorted((REPO / "runbooks").glob("*.md")), ids=lambda p: p.name)
def test_shipped_runbooks_parse(path: Path) -> None:
    book = load_runbook(path)
    assert book.steps and book.triggers
    assert book.experiment is not None and book.experiment.is_file()
    assert any(step.check is not None for step in book.steps)


def test_fields_are_typed(tmp_path: Path) -> None:
    book = parse_runbook(GOOD, tmp_path / "r.md")
    assert book.severity is Severity.P1
    assert [s.name for s in book.steps] == ["look", "verify"]
    assert book.steps[1].check is not None
    assert book.steps[1].check.qualified_name == "probes.slo.availability_at_least"
    assert book.steps[1].check.arguments == {"target": 0.995}
    assert book.total_timeout_s == 180.0
    assert book.body.startswith("# Slow zone")


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("severity: P1", "severity: P2", "severity", "expected one of P0, P1"),
        ("    timeout_s: 60", "    timeout_s: -1", "steps[0].timeout_s", "> 0"),
        ("    timeout_s: 60", "    timeout_s: soon", "steps[0].timeout_s", "expected number, got string"),
        ("triggers: [InferenceLatencyP99High]", "triggers: []", "triggers", "non-empty"),
        ("  - name: verify", "  - name: look", "steps[1].name", "repeats"),
        ("service: llm-inference-api\n", "", "service", "missing"),
        ("title: Slow zone", "title: Slow zone\ncolour: red", "<top>", "colour"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, old: str, new: str, field: str, problem: str) -> None:
    path = tmp_path / "r.md"
    assert old in GOOD
    with pytest.raises(BadInput) as err:
        parse_runbook(GOOD.replace(old, new, 1), path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert problem in err.value.problem


@pytest.mark.parametrize("text", ["# no front matter\n", "---\ntitle: x\n", "---\n[1, 2]\n---\n"])
def test_front_matter_is_required(tmp_path: Path, text: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_runbook(text, tmp_path / "r.md")
    assert err.value.field == "<front matter>"


def test_missing_experiment_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    text = GOOD.replace("steps:", "experiment: experiments/none.yaml\nsteps:", 1)
    with pytest.raises(BadInput, match="no such file") as err:
        parse_runbook(text, tmp_path / "r.md")
    assert err.value.field == "experiment"
    assert (
        parse_runbook(text, tmp_path / "r.md", check_files=False).experiment
        == tmp_path / "experiments/none.yaml"
    )
