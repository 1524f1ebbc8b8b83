"""The blast radius: one check, for every fault on every target, before anything is recorded.

A plan says which DCs, namespaces and what share of the matching replicas or pods a fault
would touch; the experiment's configuration says what it may touch
(``chaosdrill_allow_dcs``, ``chaosdrill_allow_namespaces``, ``chaosdrill_max_percentage``).
The engine raises the first problem; preflight lists them all.
"""

import math
from collections.abc import Mapping
from typing import Any

from chaosdrill.drivers.kube.guards import allowed_namespaces, namespace_problem
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.faults.kind import Plan, Share

__all__ = ["allowed_dcs", "amount", "check", "check_amount", "max_percentage", "problems"]


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
    allowed = allowed_dcs(conf)
    if allowed is not None:
        outside = [dc for dc in plan.dcs if dc not in allowed]
        if outside:
            found.append(
                f"blast radius: dc={plan.dc_selector or ','.join(plan.dcs)!r} reaches {outside}, "
                f"outside the experiment's allowlist {allowed}"
            )
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
