"""The blast radius: one check, for every fault on every target, before anything is recorded.

A plan says which DCs, namespaces and what share of the matching replicas or pods a fault
would touch; the experiment's configuration says what it may touch
(``chaosdrill_allow_dcs``, ``chaosdrill_allow_namespaces``, ``chaosdrill_max_percentage``)
and how many faults may be active at once (``chaosdrill_max_concurrent_faults``).
The engine raises the first problem; preflight lists them all.

A kind whose DC is known from its arguments alone checks it with :func:`check_dcs` before
its plan reads the target, so a fault on a DC outside the allowlist makes no call at all.
A selector that selects everything is refused unless the action says ``allow_all: true``
(:func:`check_selects_all`).
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

from chaosdrill.drivers.kube.guards import allowed_namespaces, namespace_problem
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.faults.kind import Plan, Share

__all__ = [
    "allowed_dcs",
    "amount",
    "check",
    "check_amount",
    "check_concurrency",
    "check_dcs",
    "check_selects_all",
    "concurrency_problem",
    "dc_problem",
    "max_concurrent_faults",
    "max_percentage",
    "problems",
]


def max_percentage(configuration: Mapping[str, Any] | None, default: float = 100.0) -> float:
    """``configuration.chaosdrill_max_percentage``: the share of replicas/pods an action may touch."""
    raw = (configuration or {}).get("chaosdrill_max_percentage", default)
    try:
        value = float(raw)
    except (TypeError, ValueError) as e:
        raise BadInput(
            "<experiment>", "configuration.chaosdrill_max_percentage", f"not a number: {raw!r}"
        ) from e
    if not 0 <= value <= 100:
        raise BadInput(
            "<experiment>", "configuration.chaosdrill_max_percentage", f"must be within 0..100, got {value}"
        )
    return value


def allowed_dcs(configuration: Mapping[str, Any] | None) -> list[str] | None:
    """``configuration.chaosdrill_allow_dcs``, checked: None when unset."""
    allowed = (configuration or {}).get("chaosdrill_allow_dcs")
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise BadInput("<experiment>", "configuration.chaosdrill_allow_dcs", "must be a list of DC names")
    return list(allowed)


def max_concurrent_faults(configuration: Mapping[str, Any] | None) -> int | None:
    """``configuration.chaosdrill_max_concurrent_faults``: how many faults may be active at once
    (None when unset: no cap)."""
    raw = (configuration or {}).get("chaosdrill_max_concurrent_faults")
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().isdigit():  # an env var resolved without env_var_type
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise BadInput(
            "<experiment>",
            "configuration.chaosdrill_max_concurrent_faults",
            f"must be an integer >= 1, got {raw!r}",
        )
    return raw


def concurrency_problem(configuration: Mapping[str, Any] | None, active: int, what: str) -> str | None:
    """Why one more fault (``what``) may not join ``active`` faults already active, or None."""
    cap = max_concurrent_faults(configuration)
    if cap is None or active + 1 <= cap:
        return None
    return (
        f"blast radius: {what} would be fault {active + 1} active at once, "
        f"over the experiment's chaosdrill_max_concurrent_faults {cap}"
    )


def check_concurrency(configuration: Mapping[str, Any] | None, active: Sequence[str], what: str) -> None:
    """Refuse one more fault when ``active`` (descriptions of the faults active now) already
    fills ``chaosdrill_max_concurrent_faults``."""
    problem = concurrency_problem(configuration, len(active), what)
    if problem is not None:
        shown = "; ".join(active[:5]) + (f"; and {len(active) - 5} more" if len(active) > 5 else "")
        raise ActivityFailed(f"{problem} (active: {shown})")


def dc_problem(configuration: Mapping[str, Any] | None, selector: str, dcs: Sequence[str]) -> str | None:
    """Why DCs ``dcs`` (selected by ``selector``) are outside ``chaosdrill_allow_dcs``, or None."""
    allowed = allowed_dcs(configuration)
    if allowed is None:
        return None
    outside = [dc for dc in dcs if dc not in allowed]
    if not outside:
        return None
    return (
        f"blast radius: dc={selector or ','.join(dcs)!r} reaches {outside}, "
        f"outside the experiment's allowlist {allowed}"
    )


def check_dcs(configuration: Mapping[str, Any] | None, selector: str, dcs: Sequence[str]) -> None:
    """Refuse DCs outside ``chaosdrill_allow_dcs`` at once: what a kind calls before its plan
    reads the target, when its arguments name the DC."""
    problem = dc_problem(configuration, selector, dcs)
    if problem is not None:
        raise ActivityFailed(problem)


def check_selects_all(selector: str, selects_all: bool, allow_all: Any, what: str) -> None:
    """Refuse a selector that selects everything (``selects_all``: empty, or matching every
    replica there is) unless the action says ``allow_all: true``.

    BadInput naming ``selector``: the experiment must either narrow it or say that it means it.
    """
    if not isinstance(allow_all, bool):
        raise BadInput("<argument>", "allow_all", f"must be true or false, got {allow_all!r}")
    if selects_all and not allow_all:
        shown = repr(selector) if selector.strip() else "an empty selector"
        raise BadInput(
            "<argument>",
            "selector",
            f"{shown} selects {what}; narrow it, or set allow_all: true to mean it",
        )


def check_amount(count: int | None, percentage: float | None) -> None:
    """Refuse a negative or non-integer count, a percentage outside 0..100, or both given."""
    if count is not None and percentage is not None:
        raise BadInput("<argument>", "count/percentage", "give one of count or percentage, not both")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise BadInput("<argument>", "count", f"must be an integer >= 0, got {count!r}")
    if percentage is not None and (
        isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 <= percentage <= 100
    ):
        raise BadInput("<argument>", "percentage", f"must be within 0..100, got {percentage!r}")


def amount(
    total: int, count: int | None, percentage: float | None, default_count: int | None = None
) -> Share:
    """How many of ``total`` matching replicas or pods one action touches.

    ``count`` or ``percentage`` (rounded up), not both; with neither, ``default_count``, or
    all of them when that is None too. The cap is :func:`check`'s business.
    """
    check_amount(count, percentage)
    if count is not None:
        n = count
    elif percentage is not None:
        n = math.ceil(total * percentage / 100)
    else:
        n = total if default_count is None else default_count
    return Share(min(n, total), total)


def problems(plan: Plan, configuration: Mapping[str, Any] | None) -> list[str]:
    """Every way ``plan`` reaches past the experiment's blast-radius settings."""
    conf = configuration or {}
    found: list[str] = []
    outside = dc_problem(conf, plan.dc_selector, plan.dcs)
    if outside is not None:
        found.append(outside)
    for namespace in plan.namespaces:
        problem = namespace_problem(namespace, allowed_namespaces(conf))
        if problem is not None:
            found.append(f"namespace {problem}")
    share, cap = plan.share, max_percentage(conf)
    if share is not None and share.total and share.n / share.total * 100 > cap + 1e-9:
        found.append(
            f"blast radius: touching {share.n} of {share.total} ({share.n / share.total:.0%}) "
            f"exceeds the allowed {cap:g}%"
        )
    return found


def check(plan: Plan, configuration: Mapping[str, Any] | None) -> None:
    """Refuse ``plan`` if it reaches past the blast-radius settings: nothing is recorded or touched.

    A namespace outside the allowlist is bad input (the experiment names it); a DC or a
    share past the limits fails the action.
    """
    conf = configuration or {}
    for namespace in plan.namespaces:
        problem = namespace_problem(namespace, allowed_namespaces(conf))
        if problem is not None:
            raise BadInput("<experiment>", "namespace", problem)
    found = problems(plan, conf)
    if found:
        raise ActivityFailed(found[0])
