"""Check any file a drill depends on, before anything runs: experiments, plans, runbooks, topologies.

A drill that fails on a typo after an hour of setup, or worse, injects half its faults and
then stops on a malformed argument, teaches nothing. ``validate_file`` finds the kind of a
file from its content, checks it against chaosdrill's schemas and typed parsers, and for an
experiment also runs chaoslib's own validation (which imports the activity modules and
checks every function and argument). Every problem is a :class:`BadInput` naming the file,
the JSON path inside it (``configuration.chaosdrill_max_percentage``) and what was expected.

``check_run`` is the subset the ledger control applies to a run that is about to start,
against the *resolved* configuration (env references filled in).
"""

import copy
import importlib
import importlib.util
import inspect
import json
import logging
from collections.abc import Iterator, Mapping
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ChaosException

from chaosdrill.drills.plan import load_plan
from chaosdrill.errors import BadInput
from chaosdrill.expectation import expectation_of
from chaosdrill.load.profile import SANDBOX_TRACKING, Profile, parse_profile
from chaosdrill.load.template import parse_endpoints
from chaosdrill.rehearsal.runbook import ProbeRef, Runbook, load_runbook
from chaosdrill.sandbox.topology import Topology, topology_from_dict
from chaosdrill.schemas import check, load_schema
from chaosdrill.schemas.reader import check_plain, read_document
from chaosdrill.system import parse_system

__all__ = [
    "LOAD_CONTROL",
    "Kind",
    "check_probe_reference",
    "check_run",
    "detect_kind",
    "validate_experiment",
    "validate_file",
    "validate_runbook",
    "validate_topology",
]

LOAD_CONTROL = "chaosdrill.controls.load"
# Modules a runbook check may name that are imported to check the function and its
# arguments. Others are only looked up, never imported: importing runs a module's code.
IMPORTABLE_PACKAGES = ("probes", "actions")
_TOPOLOGY_FIELDS = frozenset(Topology.__dataclass_fields__)
log = logging.getLogger("chaosdrill.validate")


class Kind(Enum):
    EXPERIMENT = "experiment"
    PLAN = "plan"
    RUNBOOK = "runbook"
    TOPOLOGY = "topology"
    SYSTEM = "system"


def detect_kind(path: Path, data: Any) -> Kind:
    """What ``data`` (parsed from ``path``) is: by suffix for runbooks, by keys otherwise."""
    if path.suffix.lower() == ".md":
        return Kind.RUNBOOK
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise BadInput(str(path), "<top>", f"expected an object (experiment, plan or topology), got {got}")
    if data.get("kind") == "System":
        return Kind.SYSTEM
    if "method" in data or "steady-state-hypothesis" in data:
        return Kind.EXPERIMENT
    if "experiments" in data or "schedule" in data:
        return Kind.PLAN
    if _TOPOLOGY_FIELDS & set(data):
        return Kind.TOPOLOGY
    raise BadInput(
        str(path),
        "<top>",
        "cannot tell what this is: an experiment has 'method' or 'steady-state-hypothesis', a drill plan "
        f"'experiments' and 'schedule', a topology some of: {', '.join(sorted(_TOPOLOGY_FIELDS))}",
    )


def validate_file(path: Path, kind: Kind | None = None) -> Kind:
    """Check one file; returns its kind, raises :class:`BadInput` on the first problem."""
    if path.suffix.lower() == ".md" and kind in (None, Kind.RUNBOOK):
        validate_runbook(load_runbook(path))
        return Kind.RUNBOOK
    data = read_document(path)
    found = kind or detect_kind(path, data)
    source = str(path)
    if found is Kind.EXPERIMENT:
        validate_experiment(data, source)
    elif found is Kind.PLAN:
        _validate_plan(path)
    elif found is Kind.TOPOLOGY:
        validate_topology(data, source)
    elif found is Kind.SYSTEM:
        parse_system(data, source)
    else:
        raise BadInput(source, "<file>", "a runbook must be a Markdown file (.md) with YAML front matter")
    return found


# --------------------------------------------------------------------------- experiments


@cache
def _configuration_schema() -> dict[str, Any]:
    full = load_schema("experiment")
    return {"$schema": full["$schema"], "$defs": full["$defs"], "$ref": "#/$defs/configuration"}


def _controls(experiment: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every control block with its JSON path: top level, hypothesis and activity level."""
    for i, c in enumerate(experiment.get("controls") or []):
        yield f"controls[{i}]", c
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    for i, c in enumerate(hypothesis.get("controls") or []):
        yield f"steady-state-hypothesis.controls[{i}]", c
    for i, probe in enumerate(hypothesis.get("probes") or []):
        for j, c in enumerate(probe.get("controls") or []):
            yield f"steady-state-hypothesis.probes[{i}].controls[{j}]", c
    for section in ("method", "rollbacks"):
        for i, activity in enumerate(experiment.get(section) or []):
            for j, c in enumerate(activity.get("controls") or []):
                yield f"{section}[{i}].controls[{j}]", c


def _check_load_controls(experiment: Mapping[str, Any], source: str) -> None:
    """The load control's profile, checked as the load generator itself will check it."""
    for where, control in _controls(experiment):
        provider = control.get("provider") or {}
        if provider.get("module") != LOAD_CONTROL:
            continue
        arguments = provider.get("arguments") or {}
        prefix = f"{where}.provider.arguments.profile"
        spec: dict[str, Any] = {
            "url": "http://127.0.0.1/",
            "duration_s": arguments.get("max_duration_s", 600.0),
        }
        if isinstance(arguments.get("profile"), Mapping) and "tracking" not in arguments["profile"]:
            # The load control fills it from the system file when the run starts (and says so if
            # the file names no session contract); the sandbox's names stand in for the check.
            spec["tracking"] = {k: v for k, v in vars(SANDBOX_TRACKING).items() if v is not None}
        try:
            profile = parse_profile({**spec, **arguments["profile"]}, source)
        except BadInput as e:
            raise BadInput(source, f"{prefix}.{e.field}", e.problem) from e
        _check_load_endpoints(arguments, profile, source, f"{where}.provider.arguments")


def _check_load_endpoints(arguments: Mapping[str, Any], profile: Profile, source: str, prefix: str) -> None:
    """The load control's request templates, unless they hold ${...} for chaoslib to fill in."""
    raw = arguments.get("endpoints")
    if raw is None or "${" in json.dumps(raw, default=str):
        return
    try:
        endpoints = parse_endpoints(raw, source)
        endpoints.check_streams([s.name for s in profile.streams], source)
    except BadInput as e:
        raise BadInput(source, f"{prefix}.{e.field}", e.problem) from e
    if "url" in arguments["profile"]:
        raise BadInput(
            source,
            f"{prefix}.profile.url",
            "with request templates, give the URL as endpoints.base_url or as url",
        )


def _check_target_rules(configuration: Mapping[str, Any], source: str) -> None:
    """Rules across keys that a schema says badly; only literal values are judged."""
    if configuration.get("chaosdrill_target") == "kubernetes" and "kube_context" not in configuration:
        raise BadInput(
            source,
            "configuration.kube_context",
            "missing: required when chaosdrill_target is kubernetes (chaosdrill never uses the current context)",
        )
    context = configuration.get("kube_context")
    allowed = configuration.get("chaosdrill_allow_production")
    if (
        isinstance(context, str)
        and "prod" in context.lower()
        and allowed is not True
        and not isinstance(allowed, dict)
    ):
        raise BadInput(
            source,
            "configuration.kube_context",
            f"{context!r} looks like production; set chaosdrill_allow_production: true to drill it",
        )


def _chaoslib_validate(experiment: Mapping[str, Any], source: str) -> None:
    from chaoslib.experiment import ensure_experiment_is_valid

    quiet = logging.getLogger("chaostoolkit")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        ensure_experiment_is_valid(copy.deepcopy(dict(experiment)))
    except ChaosException as e:
        raise BadInput(source, "<experiment>", f"chaoslib: {e}") from e
    except Exception as e:  # chaoslib assumes well-typed input in places; report, never crash
        raise BadInput(
            source, "<experiment>", f"chaoslib could not validate it: {type(e).__name__}: {e}"
        ) from e
    finally:
        quiet.setLevel(level)


def validate_experiment(
    data: Any, source: str, *, require_expectation: bool = True, run_chaoslib: bool = True
) -> None:
    """Check an experiment: chaosdrill's schema and rules, its expectation, then chaoslib's validation."""
    check_plain(data, source)
    if not isinstance(data, dict):
        raise BadInput(source, "<top>", f"expected an experiment object, got {type(data).__name__}")
    check(data, load_schema("experiment"), source)
    if require_expectation:
        expectation_of(data, source)
    _check_target_rules(data.get("configuration") or {}, source)
    _check_load_controls(data, source)
    if run_chaoslib:
        _chaoslib_validate(data, source)


def check_run(experiment: Any, configuration: Mapping[str, Any] | None, source: str = "<experiment>") -> None:
    """What the ledger control checks before a run: the chaosdrill parts, with the *resolved* configuration.

    chaoslib has already validated the experiment (unless ``--no-validation``); an experiment
    run ad hoc need not declare an expectation.
    """
    if isinstance(experiment, Mapping):
        source = str(experiment.get("title") or source) if source == "<experiment>" else source
    validate_experiment(experiment, source, require_expectation=False, run_chaoslib=False)
    resolved = dict(configuration or {})
    check_plain(resolved, source)
    check(resolved, _configuration_schema(), source, prefix="configuration")
    _check_target_rules(resolved, source)


# --------------------------------------------------------------------------- plans, runbooks, topologies


def _validate_plan(path: Path) -> None:
    source = str(path)
    try:
        plan = load_plan(path)
    except BadInput:
        raise
    except (OSError, ValueError) as e:  # a path too long for the OS, a malformed glob
        raise BadInput(source, "<plan>", f"{type(e).__name__}: {e}") from e
    for experiment in plan.experiments:
        validate_file(experiment.path, Kind.EXPERIMENT)
    for runbook in plan.rehearsals:
        validate_file(runbook, Kind.RUNBOOK)
    if plan.topology is not None:
        validate_file(plan.topology, Kind.TOPOLOGY)


def validate_topology(data: Any, source: str) -> Topology:
    """A topology file: an object (or empty, meaning the defaults) checked by the typed parser."""
    if data is None:
        return Topology()
    if not isinstance(data, dict):
        raise BadInput(source, "<top>", f"expected a topology object, got {type(data).__name__}")
    return topology_from_dict(data, source)


def check_probe_reference(ref: ProbeRef, source: str, where: str) -> None:
    """The referenced function exists and accepts the arguments given (without calling it)."""
    top = ref.module.split(".")[0]
    if top not in IMPORTABLE_PACKAGES:
        if importlib.util.find_spec(top) is None:
            raise BadInput(source, f"{where}.module", f"no installed module {top!r}")
        return
    try:
        module = importlib.import_module(ref.module)
    except ImportError as e:
        raise BadInput(source, f"{where}.module", f"cannot import {ref.module!r}: {e}") from e
    func = getattr(module, ref.func, None)
    if not callable(func) or ref.func not in getattr(module, "__all__", [ref.func]):
        raise BadInput(source, f"{where}.func", f"{ref.module} has no activity {ref.func!r}")
    try:
        inspect.signature(func).bind(**ref.arguments)
    except TypeError as e:
        raise BadInput(source, f"{where}.arguments", f"{ref.qualified_name}: {e}") from e


def validate_runbook(runbook: Runbook) -> None:
    """Its checks name real probes with fitting arguments; its experiment, if any, is valid."""
    source = str(runbook.source)
    for i, step in enumerate(runbook.steps):
        if step.check is not None:
            check_probe_reference(step.check, source, f"steps[{i}].check")
    if runbook.experiment is not None:
        try:
            validate_file(runbook.experiment, Kind.EXPERIMENT)
        except BadInput as e:
            raise BadInput(source, "experiment", f"{runbook.experiment} is not valid: {e}") from e
