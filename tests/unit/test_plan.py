"""Drill plan parsing and the expectation rules: every error names file, field and problem."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.drills.plan import load_plan
from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput
from chaosdrill.expectation import Status, expectation_of, outcome_of

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def _experiment(status: Any = "completed", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "1.0.0",
        "title": "t",
        "description": "d",
        "method": [],
        "extensions": [{"name": "chaosdrill", "expect": {"status": status}}],
    }
    doc.update(extra)
    return doc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    exp = tmp_path / "experiments" / "sandbox"
    exp.mkdir(parents=True)
    for name, status in (("b-latency", "completed"), ("a-kill", "deviated")):
        (exp / f"{name}.yaml").write_text(yaml.safe_dump(_experiment(status)))
    (tmp_path / "ci" / "plans").mkdir(parents=True)
    return tmp_path


def _plan(repo: Path, **fields: Any) -> Path:
    doc: dict[str, Any] = {
        "name": "monthly",
        "target": "sandbox",
        "schedule": "0 3 1 * *",
        "experiments": ["experiments/sandbox/*.yaml"],
    }
    doc.update(fields)
    doc = {k: v for k, v in doc.items() if v is not None}
    path = repo / "ci" / "plans" / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _error(path: Path) -> BadInput:
    with pytest.raises(BadInput) as info:
        load_plan(path)
    return info.value


def test_valid_plan(repo: Path) -> None:
    plan = load_plan(_plan(repo, slo={"availability": 0.9995}, configuration={"rate": 20}))
    assert plan.root == repo.resolve()  # found from pyproject.toml, not the plan's folder
    assert plan.target is Target.SANDBOX
    assert [e.path.name for e in plan.experiments] == ["a-kill.yaml", "b-latency.yaml"]
    assert [e.expectation.status for e in plan.experiments] == [Status.DEVIATED, Status.COMPLETED]
    assert plan.configuration_overrides() == {
        "rate": 20,
        "slo_availability": 0.9995,
        "chaosdrill_target": "sandbox",
    }
    assert plan.next_run(datetime(2026, 1, 15, tzinfo=UTC)) == datetime(2026, 2, 1, 3, 0, tzinfo=UTC)


def test_explicit_root_and_single_file(repo: Path) -> None:
    plan = load_plan(_plan(repo, root="../..", experiments=["experiments/sandbox/a-kill.yaml"]))
    assert [e.path.name for e in plan.experiments] == ["a-kill.yaml"]


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"name": None}, "name", "missing"),
        ({"experiments": "experiments/*.yaml"}, "experiments", "expected array, got string"),
        (
            {"experiments": ["experiments/sandbox/*.yaml", 3]},
            "experiments[1]",
            "expected string, got integer",
        ),
        ({"target": "k8s"}, "target", "expected one of sandbox, kubernetes"),
        ({"schedule": "every month"}, "schedule", "not a valid cron expression"),
        ({"schedule": 5}, "schedule", "expected string, got integer"),
        ({"slo": {"availability": 99.95}}, "slo.availability", "maximum"),
        ({"slo": {"availibility": 0.9}}, "slo", "availibility"),
        ({"colour": "red"}, "<top>", "colour"),
        ({"experiments": ["experiments/nope/*.yaml"]}, "experiments[0]", "matches no file"),
        ({"experiments": ["experiments/sandbox/x.yaml"]}, "experiments[0]", "no such file"),
        ({"experiments": []}, "experiments", "should be non-empty"),
        ({"timeout_s": 0}, "timeout_s", "0"),
        ({"rehearsals": ["experiments/sandbox/a-kill.yaml"]}, "rehearsals", "not a Markdown runbook"),
    ],
)
def test_bad_plan_names_file_and_field(repo: Path, fields: dict[str, Any], field: str, problem: str) -> None:
    path = _plan(repo, **fields)
    error = _error(path)
    assert error.source == str(path.resolve())
    assert error.field == field
    assert problem in error.problem


def test_unreadable_yaml(repo: Path) -> None:
    path = repo / "ci" / "plans" / "broken.yaml"
    path.write_text("name: [unclosed\n")
    error = _error(path)
    # The bounded reader names where the YAML broke.
    assert error.field == "line 2, column 1" and "not valid YAML" in error.problem


@pytest.mark.parametrize(
    ("experiment", "field", "problem"),
    [
        ({"extensions": []}, "extensions[name=chaosdrill].expect.status", "missing"),
        (
            {"extensions": [{"name": "chaosdrill"}]},
            "extensions[name=chaosdrill].expect",
            "expected a mapping",
        ),
        (_experiment(status=1), "extensions[name=chaosdrill].expect.status", "expected a string"),
        (_experiment(status="passed"), "extensions[name=chaosdrill].expect.status", "'passed' is not one of"),
        (
            _experiment(configuration={"chaosdrill_target": "kubernetes"}),
            "configuration.chaosdrill_target",
            "targets 'sandbox'",
        ),
    ],
)
def test_bad_experiment_names_the_experiment(
    repo: Path, experiment: dict[str, Any], field: str, problem: str
) -> None:
    bad = repo / "experiments" / "sandbox" / "c-bad.yaml"
    bad.write_text(yaml.safe_dump({**_experiment(), **experiment}))
    error = _error(_plan(repo))
    assert error.source == str(bad.resolve())
    assert error.field == field
    assert problem in error.problem


def test_expectation_default_only_when_asked() -> None:
    assert expectation_of({}, "j.json", default=Status.COMPLETED).status is Status.COMPLETED
    with pytest.raises(BadInput):
        expectation_of({}, "j.json")


@pytest.mark.parametrize(
    ("journal", "outcome"),
    [
        ({"status": "completed", "deviated": False}, Status.COMPLETED),
        ({"status": "completed", "deviated": True}, Status.DEVIATED),
        ({"status": "failed", "deviated": True}, Status.DEVIATED),
        ({"status": "aborted", "deviated": False}, Status.ABORTED),
        ({"status": "interrupted"}, Status.INTERRUPTED),
        ({"status": None}, Status.FAILED),
        # chaoslib says "completed" when the steady state was not met *before* the method
        (
            {
                "status": "completed",
                "deviated": False,
                "steady_states": {"before": {"steady_state_met": False}},
            },
            Status.FAILED,
        ),
    ],
)
def test_outcome_of(journal: dict[str, Any], outcome: Status) -> None:
    assert outcome_of(journal) is outcome
