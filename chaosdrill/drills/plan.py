"""Drill plans: which experiments a drill runs, against what, how often, with which SLO.

A plan is a small YAML file kept in the repository next to the experiments it names, so a
drill is reviewed like code. Everything is checked before anything runs: a typo in a plan
must cost exit 2 in a second, not a half-finished drill an hour later. Errors name the file,
the path inside it and what was expected there.

Paths and globs are relative to the plan's *repository root*: ``root:`` if the plan sets it
(relative to the plan file), otherwise the nearest folder above the plan holding ``.git`` or
``pyproject.toml``, otherwise the plan's own folder.
"""

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput
from chaosdrill.expectation import Expectation, expectation_of
from chaosdrill.schemas import check, type_name
from chaosdrill.schemas.reader import read_document
from chaosdrill.slo import SloOverrides

__all__ = [
    "PLAN_SCHEMA",
    "DrillPlan",
    "PlannedExperiment",
    "SloOverrides",
    "load_experiment",
    "load_plan",
]

_PATH_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "target", "schedule", "experiments"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "target": {"type": "string", "enum": [t.value for t in Target]},
        "schedule": {"type": "string", "minLength": 1},
        "root": {"type": "string", "minLength": 1},
        "topology": {"type": "string", "minLength": 1},
        "experiments": {**_PATH_LIST, "minItems": 1},
        "rehearsals": _PATH_LIST,
        "timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "slo": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "availability": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "latency_p99_ms": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "configuration": {"type": "object"},
    },
}


@dataclass(frozen=True)
class PlannedExperiment:
    path: Path
    title: str
    expectation: Expectation


@dataclass(frozen=True)
class DrillPlan:
    source: Path
    name: str
    target: Target
    schedule: str
    root: Path
    experiments: tuple[PlannedExperiment, ...]
    rehearsals: tuple[Path, ...] = ()
    slo: SloOverrides = field(default_factory=SloOverrides)
    configuration: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 1800.0
    description: str = ""
    topology: Path | None = None

    def next_run(self, after: datetime) -> datetime:
        """When the schedule fires next after ``after``."""
        fire: datetime = croniter(self.schedule, after).get_next(datetime)
        return fire

    def configuration_overrides(self) -> dict[str, Any]:
        """What the runner passes to every ``chaos run`` as configuration."""
        return {
            **self.configuration,
            **self.slo.as_configuration(),
            "chaosdrill_target": self.target.value,
        }


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    # The bounded reader turns every parser failure (bad UTF-8, alias bombs, deep nesting)
    # into a BadInput naming the file, so `drill run` never shows a traceback.
    data = read_document(path)
    if not isinstance(data, dict):
        raise BadInput(str(path), "<top>", f"expected an object, got {type_name(data)}")
    return data


def load_experiment(path: Path) -> dict[str, Any]:
    """Read an experiment file (YAML or JSON) as a mapping."""
    return _read_mapping(path, "experiment")


def _repo_root(plan_path: Path, declared: str | None) -> Path:
    if declared is not None:
        root = (plan_path.parent / declared).resolve()
        if not root.is_dir():
            raise BadInput(str(plan_path), "root", f"{declared!r} is not a folder (resolved to {root})")
        return root
    start = plan_path.parent.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder
    return start


def _expand(plan_path: Path, root: Path, field_name: str, patterns: list[str]) -> list[Path]:
    found: list[Path] = []
    for i, pattern in enumerate(patterns):
        where = f"{field_name}[{i}]"
        if Path(pattern).is_absolute():
            raise BadInput(
                str(plan_path), where, f"{pattern!r} must be relative to the repository root {root}"
            )
        if glob.has_magic(pattern):
            matches = sorted(p for p in root.glob(pattern) if p.is_file())
            if not matches:
                raise BadInput(str(plan_path), where, f"{pattern!r} matches no file under {root}")
        else:
            single = root / pattern
            if not single.is_file():
                raise BadInput(str(plan_path), where, f"{pattern!r}: no such file under {root}")
            matches = [single]
        for m in matches:
            if m.resolve() not in found:
                found.append(m.resolve())
    return found


def _planned(plan_path: Path, target: Target, path: Path) -> PlannedExperiment:
    experiment = load_experiment(path)
    expectation = expectation_of(experiment, str(path))
    configuration = experiment.get("configuration") or {}
    declared = configuration.get("chaosdrill_target") if isinstance(configuration, Mapping) else None
    if isinstance(declared, str) and declared != target.value:
        raise BadInput(
            str(path),
            "configuration.chaosdrill_target",
            f"{declared!r} but the plan {plan_path} targets {target.value!r}",
        )
    title = experiment.get("title")
    return PlannedExperiment(
        path=path, title=title if isinstance(title, str) else path.stem, expectation=expectation
    )


def load_plan(path: Path) -> DrillPlan:
    """Parse and check a plan file, its experiments' expectations and its rehearsals.

    Raises :class:`BadInput` naming the file, the field and the problem.
    """
    source = path.resolve() if path.exists() else path
    data = _read_mapping(source, "drill plan")
    check(data, PLAN_SCHEMA, str(source))
    schedule: str = data["schedule"]
    if not croniter.is_valid(schedule):
        raise BadInput(
            str(source), "schedule", f"{schedule!r} is not a valid cron expression (e.g. '0 3 1 * *')"
        )
    target = Target(data["target"])
    root = _repo_root(source, data.get("root"))
    experiments = tuple(
        _planned(source, target, p) for p in _expand(source, root, "experiments", data["experiments"])
    )
    rehearsals = tuple(_expand(source, root, "rehearsals", data.get("rehearsals", [])))
    for runbook in rehearsals:
        if runbook.suffix.lower() != ".md":
            raise BadInput(str(source), "rehearsals", f"{runbook} is not a Markdown runbook (.md)")
    topology: Path | None = None
    if "topology" in data:
        topology = root / data["topology"]
        if not topology.is_file():
            raise BadInput(str(source), "topology", f"{data['topology']!r}: no such file under {root}")
        if target is not Target.SANDBOX:
            raise BadInput(str(source), "topology", "only a sandbox plan takes a topology")
    slo = data.get("slo", {})
    return DrillPlan(
        source=source,
        name=data["name"],
        target=target,
        schedule=schedule,
        root=root,
        experiments=experiments,
        rehearsals=rehearsals,
        slo=SloOverrides(availability=slo.get("availability"), latency_p99_ms=slo.get("latency_p99_ms")),
        configuration=dict(data.get("configuration", {})),
        timeout_s=float(data.get("timeout_s", 1800.0)),
        description=data.get("description", ""),
        topology=topology,
    )
