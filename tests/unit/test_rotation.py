"""Rotation over a year, with explicit dates: every family at least once a quarter, all in the full month."""

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.drills.plan import load_plan
from chaosdrill.drills.rotation import Rotation, parse_month
from chaosdrill.errors import BadInput

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

YEAR = [date(2027, m, 1) for m in range(1, 13)]
QUARTERS = [YEAR[i : i + 3] for i in range(0, 12, 3)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("full", [1, 6, 12])
def test_every_family_at_least_once_a_quarter_and_all_in_the_full_month(count: int, full: int) -> None:
    families = tuple(f"f{i}" for i in range(count))
    rotation = Rotation(families, full_drill_month=full)
    schedule = rotation.schedule(YEAR)
    for quarter in QUARTERS:
        ran = {f for m in quarter for f in schedule[m]}
        assert ran == set(families), (quarter[0], ran)
    assert schedule[date(2027, full, 1)] == families
    assert [m for m in YEAR if rotation.is_full(m)] == [date(2027, full, 1)]
    # the full drill is once a year, not every month: other months run a strict subset when there is a choice
    if count > 1:
        assert all(len(schedule[m]) < count for m in YEAR if m.month != full)


def test_three_families_one_per_month() -> None:
    rotation = Rotation(("network", "zone", "capacity"), full_drill_month=1)
    assert rotation.families_for(date(2027, 2, 1)) == ("zone",)
    assert rotation.families_for(date(2027, 3, 1)) == ("capacity",)
    assert rotation.families_for(date(2027, 4, 1)) == ("network",)
    assert rotation.families_for(date(2027, 1, 1)) == ("network", "zone", "capacity")


def test_parse_month() -> None:
    assert parse_month("2026-05") == date(2026, 5, 1)
    for bad in ("2026-13", "05-2026", "2026/05", "2026-5x", ""):
        with pytest.raises(ValueError):
            parse_month(bad)


def _experiment(name: str, tags: list[str], **ext: Any) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": name,
        "description": "d",
        "tags": tags,
        "method": [],
        "extensions": [{"name": "chaosdrill", "expect": {"status": "completed"}, **ext}],
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "latency.yaml").write_text(yaml.safe_dump(_experiment("latency", ["network"])))
    (exp / "redis.yaml").write_text(yaml.safe_dump(_experiment("redis", ["network", "redis"])))
    (exp / "zone.yaml").write_text(yaml.safe_dump(_experiment("zone", ["zone"])))
    (exp / "surge.yaml").write_text(yaml.safe_dump(_experiment("surge", [], family="capacity")))
    return tmp_path


def _plan(repo: Path, rotation: dict[str, Any]) -> Path:
    doc = {
        "name": "rotating",
        "target": "sandbox",
        "schedule": "0 3 1 * *",
        "experiments": ["experiments/*.yaml"],
        "rotation": rotation,
    }
    path = repo / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))  # the families' order is the rotation's
    return path


def test_plan_rotation_picks_each_months_experiments(repo: Path) -> None:
    plan = load_plan(
        _plan(
            repo,
            {
                "families": {"network": ["tag:network"], "zone": ["experiments/zone.yaml"], "capacity": []},
                "full_drill_month": 1,
            },
        )
    )
    names = {m: sorted(e.path.stem for e in plan.experiments_for(m)) for m in YEAR}
    assert names[date(2027, 1, 1)] == ["latency", "redis", "surge", "zone"]
    assert names[date(2027, 2, 1)] == ["zone"]
    assert names[date(2027, 3, 1)] == ["surge"]  # declared in its own extension
    assert names[date(2027, 4, 1)] == ["latency", "redis"]
    for quarter in QUARTERS:
        assert {n for m in quarter for n in names[m]} == {"latency", "redis", "surge", "zone"}


@pytest.mark.parametrize(
    ("rotation", "field", "problem"),
    [
        (
            {"families": {"network": ["tag:network"], "capacity": []}},
            "rotation.families",
            "zone.yaml is in no family",
        ),
        (
            {"families": {"a": ["tag:network"], "b": ["experiments/redis.yaml", "tag:zone"], "capacity": []}},
            "rotation.families",
            "redis.yaml is in several families (a, b)",
        ),
        ({"families": {"x": ["tag:nope"]}}, "rotation.families.x[0]", "selects none"),
        ({"families": {"x": ["experiments/gone.yaml"]}}, "rotation.families.x[0]", "no such file"),
        ({"families": {}}, "rotation.families", "should be non-empty"),
        ({"families": {"a": ["tag:network"]}, "full_drill_month": 13}, "rotation.full_drill_month", "13"),
        (
            {"families": {"all": ["experiments/*.yaml"], "capacity": [], "empty": []}},
            "rotation.families.empty",
            "has no experiment",
        ),
    ],
)
def test_bad_rotation_names_file_and_field(
    repo: Path, rotation: dict[str, Any], field: str, problem: str
) -> None:
    path = _plan(repo, rotation)
    with pytest.raises(BadInput) as info:
        load_plan(path)
    assert info.value.source == str(path.resolve())
    assert info.value.field == field
    assert problem in info.value.problem


def test_family_with_no_experiment_is_refused(repo: Path) -> None:
    (repo / "experiments" / "surge.yaml").unlink()
    path = _plan(repo, {"families": {"network": ["tag:network"], "zone": ["tag:zone"], "capacity": []}})
    with pytest.raises(BadInput) as info:
        load_plan(path)
    assert info.value.field == "rotation.families.capacity" and "no experiment" in info.value.problem


def test_declared_family_must_exist(repo: Path) -> None:
    path = _plan(repo, {"families": {"network": ["tag:network"], "zone": ["tag:zone"]}})
    with pytest.raises(BadInput) as info:
        load_plan(path)
    assert info.value.source == str((repo / "experiments" / "surge.yaml").resolve())
    assert info.value.field == "extensions[name=chaosdrill].family"


def test_rest_takes_what_no_other_family_claims(repo: Path) -> None:
    (repo / "experiments" / "new.yaml").write_text(yaml.safe_dump(_experiment("new", ["untagged"])))
    plan = load_plan(
        _plan(repo, {"families": {"network": ["tag:network"], "capacity": [], "other": ["rest"]}})
    )
    family = {e.path.stem: e.family for e in plan.experiments}
    assert family == {
        "latency": "network",
        "redis": "network",
        "surge": "capacity",
        "zone": "other",
        "new": "other",
    }
    with pytest.raises(BadInput) as info:
        load_plan(_plan(repo, {"families": {"a": ["rest"], "b": ["rest"], "capacity": []}}))
    assert info.value.field == "rotation.families" and "several families" in info.value.problem


def test_the_shipped_rotation_plan_runs_every_experiment_each_quarter() -> None:
    plan = load_plan(Path(__file__).resolve().parents[2] / "ci" / "plans" / "sandbox-rotation.yaml")
    everything = {e.path for e in plan.experiments}
    for quarter in QUARTERS:
        assert {e.path for m in quarter for e in plan.experiments_for(m)} == everything
    assert {e.path for e in plan.experiments_for(date(2027, 1, 1))} == everything
    assert all(len(plan.experiments_for(m)) < len(everything) for m in YEAR[1:])
