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
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from chaosdrill.drills.guard import GuardPolicy, guard_policy_of
from chaosdrill.drills.rotation import Rotation
from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput
from chaosdrill.expectation import EXTENSION_NAME, Expectation, expectation_of
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
        "rotation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["families"],
            "properties": {
                "families": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": _PATH_LIST,
                },
                "full_drill_month": {"type": "integer", "minimum": 1, "maximum": 12},
            },
        },
    },
}


@dataclass(frozen=True)
class PlannedExperiment:
    path: Path
    title: str
    expectation: Expectation
    guard: GuardPolicy = field(default_factory=GuardPolicy)
    tags: tuple[str, ...] = ()
    family: str | None = None  # set when the plan has a rotation


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
    rotation: Rotation | None = None

    def experiments_for(self, month: date) -> tuple[PlannedExperiment, ...]:
        """The experiments of ``month``'s rotation slot; every experiment without a rotation."""
        if self.rotation is None:
            return self.experiments
        families = set(self.rotation.families_for(month))
        return tuple(e for e in self.experiments if e.family in families)

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
    tags = experiment.get("tags")
    return PlannedExperiment(
        path=path,
        title=title if isinstance(title, str) else path.stem,
        expectation=expectation,
        guard=guard_policy_of(experiment, str(path)),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        family=_declared_family(experiment, str(path)),
    )


_FAMILY_FIELD = f"extensions[name={EXTENSION_NAME}].family"


def _declared_family(experiment: Mapping[str, Any], source: str) -> str | None:
    for ext in experiment.get("extensions") or []:
        if isinstance(ext, Mapping) and ext.get("name") == EXTENSION_NAME and "family" in ext:
            family = ext["family"]
            if not isinstance(family, str) or not family:
                raise BadInput(source, _FAMILY_FIELD, f"expected a family name, got {family!r}")
            return family
    return None


# A family selector that takes every experiment no other selector (or declaration) claims, so
# a new experiment joins the rotation without editing the plan.
REST = "rest"


def _family_members(
    plan_path: Path, root: Path, name: str, selectors: list[str], experiments: tuple[PlannedExperiment, ...]
) -> set[Path]:
    """The experiments a family's selectors pick: ``tag:NAME``, a path/glob under the root, or ``rest``."""
    members: set[Path] = set()
    for i, selector in enumerate(selectors):
        where = f"rotation.families.{name}[{i}]"
        if selector == REST:
            continue  # resolved once every other selector is known
        if selector.startswith("tag:"):
            picked = {e.path for e in experiments if selector[4:] in e.tags}
        else:
            try:
                found = _expand(plan_path, root, where, [selector])
            except BadInput as e:
                raise BadInput(str(plan_path), where, e.problem) from e
            picked = set(found) & {e.path for e in experiments}
        if not picked:
            raise BadInput(str(plan_path), where, f"{selector!r} selects none of the plan's experiments")
        members |= picked
    return members


def _rotate(
    plan_path: Path, root: Path, raw: Mapping[str, Any], experiments: tuple[PlannedExperiment, ...]
) -> tuple[Rotation, tuple[PlannedExperiment, ...]]:
    """Give every experiment its family: declared in the experiment, else the plan's selectors."""
    families: dict[str, list[str]] = dict(raw["families"])
    rotation = Rotation(tuple(families), int(raw.get("full_drill_month", 1)))
    members = {n: _family_members(plan_path, root, n, sel, experiments) for n, sel in families.items()}
    rest = [n for n, sel in families.items() if REST in sel]
    if len(rest) > 1:
        raise BadInput(
            str(plan_path), "rotation.families", f"{REST!r} is in several families ({', '.join(rest)})"
        )
    if rest:
        claimed = set().union(*members.values()) | {e.path for e in experiments if e.family is not None}
        members[rest[0]] |= {e.path for e in experiments if e.path not in claimed}
    placed: list[PlannedExperiment] = []
    for e in experiments:
        if e.family is not None:
            if e.family not in families:
                raise BadInput(
                    str(e.path), _FAMILY_FIELD, f"{e.family!r} is not a family of the plan {plan_path}"
                )
            placed.append(e)
            continue
        found = [n for n, paths in members.items() if e.path in paths]
        if len(found) != 1:
            problem = "in no family" if not found else f"in several families ({', '.join(found)})"
            raise BadInput(
                str(plan_path), "rotation.families", f"{e.path.name} is {problem}; each runs in exactly one"
            )
        placed.append(replace(e, family=found[0]))
    for name in families:
        if not any(e.family == name for e in placed):
            raise BadInput(
                str(plan_path), f"rotation.families.{name}", "has no experiment; its month would run nothing"
            )
    return rotation, tuple(placed)


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
    rotation: Rotation | None = None
    if "rotation" in data:
        rotation, experiments = _rotate(source, root, data["rotation"], experiments)
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
        rotation=rotation,
    )
