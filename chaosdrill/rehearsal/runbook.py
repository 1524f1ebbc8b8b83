"""Runbooks: the steps an on-call engineer follows for one kind of incident, as checked data.

A runbook is Markdown for humans with YAML front matter for machines: the alerts that page
for it, its severity, the fault that rehearses it (an experiment, or one action), the steps
with a time box each, and for a step that can be verified, a probe (module, function,
arguments) that says whether the step worked; a step may also carry an action to run
(``do``), say that passing it means the incident is detected or mitigated (``marks``), and
list every operation its prose asks a person for (``operations``: a ``chaosdrill`` command
or a documented operation of the target), so ``chaosdrill runbook lint`` can prove each one
exists. Keeping both in one file stops the prose and the rehearsal from drifting apart. A runbook is parsed before
anyone relies on it, and every problem names the file and the field (``steps[2].timeout_s``).

Paths in a runbook (``experiment``) are relative to its repository root, as in drill plans:
the nearest folder above the runbook holding ``.git`` or ``pyproject.toml``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.schemas import check, load_schema
from chaosdrill.schemas.reader import parse_text, read_text

__all__ = [
    "Mark",
    "Operation",
    "ProbeRef",
    "Runbook",
    "Severity",
    "Step",
    "load_runbook",
    "parse_runbook",
    "split_front_matter",
]

FENCE = "---"


class Severity(Enum):
    """P0 pages by phone (e.g. 502s), P1 by mail (e.g. latency), as in the seed article."""

    P0 = "P0"
    P1 = "P1"


@dataclass(frozen=True)
class ProbeRef:
    """A Chaos Toolkit probe to call: ``module.func(**arguments)``."""

    module: str
    func: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.func}"


class Mark(Enum):
    """What passing a step establishes, for the rehearsal's time to detect and to mitigate."""

    DETECTED = "detected"
    MITIGATED = "mitigated"


@dataclass(frozen=True)
class Operation:
    """An operation a step asks a person for: a ``chaosdrill`` command line, or an operation
    of the target system documented in ``doc`` (a repository path, optionally ``#anchor``)."""

    command: str = ""
    documented: str = ""
    doc: str = ""


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    timeout_s: float
    check: ProbeRef | None = None
    do: ProbeRef | None = None
    marks: Mark | None = None
    operations: tuple[Operation, ...] = ()


@dataclass(frozen=True)
class Runbook:
    source: Path
    title: str
    severity: Severity
    service: str
    triggers: tuple[str, ...]
    steps: tuple[Step, ...]
    experiment: Path | None = None
    owner: str = ""
    body: str = ""
    fault: ProbeRef | None = None
    root: Path | None = None

    @property
    def total_timeout_s(self) -> float:
        return sum(s.timeout_s for s in self.steps)


def split_front_matter(text: str, source: str) -> tuple[str, str]:
    """``(front matter, body)`` of a Markdown document that opens with a ``---`` fence."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].rstrip() != FENCE:
        raise BadInput(
            source, "<front matter>", "a runbook must open with a '---' line and YAML front matter"
        )
    for i, line in enumerate(lines[1:], start=1):
        if line.rstrip() in (FENCE, "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :])
    raise BadInput(source, "<front matter>", "no closing '---' line after the front matter")


def _repo_root(path: Path) -> Path:
    start = path.parent.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder
    return start


def parse_runbook(text: str, source: Path, *, check_files: bool = True) -> Runbook:
    """A runbook from its text; ``check_files`` also requires its experiment file to exist."""
    name = str(source)
    front, body = split_front_matter(text, name)
    data = parse_text(front, name, line_offset=1)
    if not isinstance(data, dict):
        got = "nothing" if data is None else type(data).__name__
        raise BadInput(name, "<front matter>", f"expected a mapping of fields, got {got}")
    check(data, load_schema("runbook"), name)
    steps = tuple(_step(s) for s in data["steps"])
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if step.name in seen:
            raise BadInput(name, f"steps[{i}].name", f"{step.name!r} repeats an earlier step's name")
        seen.add(step.name)
    experiment: Path | None = None
    root = _repo_root(source)
    if "experiment" in data:
        raw = data["experiment"]
        if Path(raw).is_absolute():
            raise BadInput(name, "experiment", f"{raw!r} must be relative to the repository root")
        if Path(raw).suffix.lower() not in (".yaml", ".yml", ".json"):
            raise BadInput(name, "experiment", f"{raw!r} is not an experiment file (.yaml, .yml or .json)")
        experiment = root / raw
        if check_files and not experiment.is_file():
            raise BadInput(name, "experiment", f"{raw!r}: no such file under {root}")
    return Runbook(
        source=source,
        title=data["title"],
        severity=Severity(data["severity"]),
        service=data["service"],
        triggers=tuple(data["triggers"]),
        steps=steps,
        experiment=experiment,
        owner=data.get("owner", ""),
        body=body,
        fault=_ref(data.get("fault")),
        root=root,
    )


def _ref(raw: Mapping[str, Any] | None) -> ProbeRef | None:
    if raw is None:
        return None
    return ProbeRef(module=raw["module"], func=raw["func"], arguments=dict(raw.get("arguments", {})))


def _step(raw: Mapping[str, Any]) -> Step:
    return Step(
        name=raw["name"],
        action=raw["action"],
        timeout_s=float(raw["timeout_s"]),
        check=_ref(raw.get("check")),
        do=_ref(raw.get("do")),
        marks=Mark(raw["marks"]) if "marks" in raw else None,
        operations=tuple(
            Operation(
                command=op.get("command", ""), documented=op.get("documented", ""), doc=op.get("doc", "")
            )
            for op in raw.get("operations", [])
        ),
    )


def load_runbook(path: Path, *, check_files: bool = True) -> Runbook:
    """Read and check a runbook file; raises :class:`BadInput` naming the file and field."""
    return parse_runbook(read_text(path), path, check_files=check_files)
