"""``chaosdrill runbook lint``: every reference a runbook makes resolves, before a person relies on it.

A runbook that sends the on-call to an operation nobody built fails at 3 a.m., in the worst
possible way. So every reference is checked: the linked experiment is a valid experiment;
the fault, the checks and the dos name activities ``chaos discover`` would list (module,
function in its ``__all__``, arguments that fit); the fault is one the engine can inject and
revert; the triggers are alerts defined in the repository's ``monitoring/`` rules (where the
repository has them); every ``chaosdrill`` command a step names, in ``operations`` or in
backticks in its prose, is in the CLI's command table; every documented operation points at
a document (and heading) that exists.

Problems are collected, not raised one at a time, so one lint run shows them all; each
names the file and the field.
"""

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosdrill.drivers.target import Target, target_of
from chaosdrill.errors import BadInput
from chaosdrill.faults import registry
from chaosdrill.rehearsal.runbook import Operation, ProbeRef, Runbook, load_runbook
from chaosdrill.schemas.reader import read_document
from chaosdrill.validate import Kind, check_probe_reference, validate_file

__all__ = [
    "CommandTable",
    "Problem",
    "alerts_defined",
    "experiment_of",
    "fault_activities",
    "lint_file",
    "lint_runbook",
    "resolve_command",
]

# Full command paths of the CLI, without the program name: ("sandbox", "up"), ("recover",).
CommandTable = Collection[tuple[str, ...]]

_INLINE_COMMAND = re.compile(r"`(chaosdrill(?: [^`]+)?)`")


@dataclass(frozen=True)
class Problem:
    """One reference that does not resolve."""

    source: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.field}: {self.message}"


def resolve_command(line: str, table: CommandTable) -> tuple[str, ...] | None:
    """The command path ``line`` (``chaosdrill sandbox status --json``) runs, or None."""
    words = line.split()
    if not words or words[0] != "chaosdrill":
        return None
    rest = tuple(words[1:])
    matches = [path for path in table if rest[: len(path)] == path]
    return max(matches, key=len) if matches else None


def alerts_defined(root: Path) -> set[str] | None:
    """Alert names in ``<root>/monitoring/**/*.yml`` rule groups; None when there are no rules."""
    folder = root / "monitoring"
    if not folder.is_dir():
        return None
    files = sorted([*folder.rglob("*.yml"), *folder.rglob("*.yaml")])
    names: set[str] = set()
    found_rules = False
    for path in files:
        try:
            data = read_document(path)
        except BadInput:
            continue
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list):
            continue
        for group in groups:
            rules = group.get("rules") if isinstance(group, dict) else None
            for rule in rules if isinstance(rules, list) else []:
                found_rules = True
                if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                    names.add(rule["alert"])
    return names if found_rules else None


def experiment_of(runbook: Runbook) -> dict[str, Any]:
    """The linked experiment as a mapping (empty without one)."""
    if runbook.experiment is None:
        return {}
    data = read_document(runbook.experiment)
    return data if isinstance(data, dict) else {}


def _activity(raw: Any) -> ProbeRef | None:
    provider = raw.get("provider") if isinstance(raw, Mapping) else None
    if not isinstance(provider, Mapping) or provider.get("type") != "python":
        return None
    if raw.get("type") != "action":
        return None
    return ProbeRef(
        str(provider.get("module")), str(provider.get("func")), dict(provider.get("arguments") or {})
    )


def fault_activities(runbook: Runbook, experiment: Mapping[str, Any], target: Target) -> list[ProbeRef]:
    """The actions that inject the rehearsed fault: the runbook's ``fault``, else the
    experiment's method actions that a fault kind claims as its injection."""
    if runbook.fault is not None:
        return [runbook.fault]
    found = []
    for raw in experiment.get("method") or []:
        ref = _activity(raw)
        if ref is None:
            continue
        claimed = registry.by_activity(ref.qualified_name, target)
        if claimed is not None and claimed[1] == "inject":
            found.append(ref)
    return found


def _reference(ref: ProbeRef, package: str, source: str, where: str) -> Iterable[Problem]:
    if ref.module.split(".")[0] != package:
        yield Problem(source, f"{where}.module", f"{ref.module!r} is not in the {package!r} package")
        return
    try:
        check_probe_reference(ref, source, where)
    except BadInput as e:
        yield Problem(source, e.field, e.problem)


def _anchors(text: str) -> set[str]:
    """GitHub-style heading anchors of a Markdown document."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def _operation(
    op: Operation, root: Path, table: CommandTable | None, source: str, where: str
) -> Iterable[Problem]:
    if op.command:
        if table is not None and resolve_command(op.command, table) is None:
            yield Problem(source, f"{where}.command", f"`{op.command}` is not a chaosdrill command")
        return
    path, _, anchor = op.doc.partition("#")
    doc = root / path
    if Path(path).is_absolute() or not doc.is_file():
        yield Problem(source, f"{where}.doc", f"{op.doc!r}: no such document under {root}")
    elif anchor and anchor not in _anchors(doc.read_text(encoding="utf-8", errors="replace")):
        yield Problem(source, f"{where}.doc", f"{path} has no heading with the anchor #{anchor}")


def _inline_commands(text: str, table: CommandTable, source: str, where: str) -> Iterable[Problem]:
    for line in _INLINE_COMMAND.findall(text):
        if resolve_command(line, table) is None:
            yield Problem(source, where, f"`{line}` is not a chaosdrill command")


def _fault(runbook: Runbook, source: str) -> Iterable[Problem]:
    try:
        experiment = experiment_of(runbook)
        configuration = experiment.get("configuration") or {}
        target = target_of(configuration if isinstance(configuration, Mapping) else {})
    except BadInput as e:
        yield Problem(source, "experiment", str(e))
        return
    if runbook.fault is not None:
        problems = list(_reference(runbook.fault, "actions", source, "fault"))
        yield from problems
        claimed = registry.by_activity(runbook.fault.qualified_name, target)
        if not problems and (claimed is None or claimed[1] != "inject"):
            yield Problem(
                source, "fault", f"{runbook.fault.qualified_name} injects no fault kind on {target.value}"
            )
        return
    if runbook.experiment is None:
        yield Problem(source, "experiment", "nothing to rehearse: link an experiment or name a fault")
    elif not fault_activities(runbook, experiment, target):
        yield Problem(source, "experiment", f"{runbook.experiment} injects no fault in its method")


def lint_runbook(runbook: Runbook, commands: CommandTable | None = None) -> list[Problem]:
    """Every unresolved reference of a parsed runbook; ``commands`` is the CLI's command table
    (None skips the command references: the engine alone cannot see the CLI)."""
    source = str(runbook.source)
    root = runbook.root or runbook.source.parent
    problems: list[Problem] = []
    if runbook.experiment is not None:
        try:
            validate_file(runbook.experiment, Kind.EXPERIMENT)
        except BadInput as e:
            problems.append(Problem(source, "experiment", f"{runbook.experiment} is not valid: {e}"))
    problems.extend(_fault(runbook, source))
    alerts = alerts_defined(root)
    if alerts is not None:
        for i, name in enumerate(runbook.triggers):
            if name not in alerts:
                problems.append(
                    Problem(source, f"triggers[{i}]", f"no alert {name!r} in {root / 'monitoring'} rules")
                )
    for i, step in enumerate(runbook.steps):
        where = f"steps[{i}]"
        if step.check is not None:
            problems.extend(_reference(step.check, "probes", source, f"{where}.check"))
        if step.do is not None:
            problems.extend(_reference(step.do, "actions", source, f"{where}.do"))
        for j, op in enumerate(step.operations):
            problems.extend(_operation(op, root, commands, source, f"{where}.operations[{j}]"))
        if commands is not None:
            problems.extend(_inline_commands(step.action, commands, source, f"{where}.action"))
    if commands is not None:
        problems.extend(_inline_commands(runbook.body, commands, source, "<body>"))
    return problems


def lint_file(path: Path, commands: CommandTable | None = None) -> list[Problem]:
    """Parse and lint one runbook file; a file that does not parse is one problem."""
    try:
        runbook = load_runbook(path)
    except BadInput as e:
        return [Problem(e.source, e.field, e.problem)]
    return lint_runbook(runbook, commands)
