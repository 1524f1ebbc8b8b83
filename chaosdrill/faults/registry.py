"""The fault kinds, found by name: every module of :mod:`chaosdrill.faults.kinds` lists its
kinds in ``KINDS``, and this module collects them, so adding a kind (or a whole family)
touches its own module and nothing else.
"""

import importlib
import pkgutil
from functools import cache

from chaosdrill.drivers.target import Target
from chaosdrill.errors import BadInput
from chaosdrill.faults import kinds as kinds_package
from chaosdrill.faults.kind import FaultKind

__all__ = ["all_kinds", "by_activity", "lookup"]


@cache
def _registry() -> dict[tuple[str, Target], FaultKind]:
    found: dict[tuple[str, Target], FaultKind] = {}
    for module in pkgutil.iter_modules(kinds_package.__path__):
        family = importlib.import_module(f"{kinds_package.__name__}.{module.name}")
        for kind in getattr(family, "KINDS", ()):
            for target in kind.targets:
                if (kind.name, target) in found:
                    raise ValueError(f"fault kind {kind.name!r} on {target.value} is defined twice")
                found[(kind.name, target)] = kind
    return found


def lookup(name: str, target: Target) -> FaultKind:
    """The kind registered under ``name`` for ``target``; BadInput naming where it runs if none."""
    kind = _registry().get((name, target))
    if kind is None:
        on = sorted(t.value for (n, t) in _registry() if n == name)
        why = f"runs on {', '.join(on)} only" if on else "is not a known fault kind"
        raise BadInput(
            "<experiment>", "configuration.chaosdrill_target", f"fault {name!r} {why}, not {target.value}"
        )
    return kind


def all_kinds() -> list[FaultKind]:
    """Every registered kind, once each, in a stable order."""
    seen: dict[int, FaultKind] = {}
    for _key, kind in sorted(_registry().items(), key=lambda item: (item[0][0], item[0][1].value)):
        seen.setdefault(id(kind), kind)
    return list(seen.values())


def by_activity(activity: str, target: Target) -> tuple[FaultKind, str] | None:
    """The kind an action (``actions.latency.add_latency``) injects or removes on ``target``,
    with ``"inject"`` or ``"remove"``; None for an action no kind claims there."""
    for (_name, on), kind in _registry().items():
        if on is target and activity in kind.activities:
            return kind, kind.activities[activity]
    return None
