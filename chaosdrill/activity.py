"""Shared plumbing for activities: blast-radius settings read from the configuration.

Activities live in ``actions``/``probes``; what they share with each other lives here,
since the two packages may not import one another.
"""

import fnmatch
import math
from collections.abc import Mapping, Sequence
from typing import Any

from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.targets import Target, target_of

__all__ = [
    "SYSTEM_NAMESPACES",
    "check_amount",
    "check_dc_allowed",
    "how_many",
    "max_percentage",
    "namespace_problem",
]

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


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


def how_many(
    total: int,
    count: int | None,
    percentage: float | None,
    max_percentage: float,
    default_count: int | None = None,
) -> int:
    """How many of ``total`` matching replicas or pods one action touches.

    ``count`` or ``percentage`` (rounded up), not both; with neither, ``default_count``,
    or all of them when that is None too. Validates both and enforces the blast-radius
    cap (``configuration.chaosdrill_max_percentage``) before anything is touched.
    """
    check_amount(count, percentage)
    if count is not None:
        n = count
    elif percentage is not None:
        n = math.ceil(total * percentage / 100)
    else:
        n = total if default_count is None else default_count
    n = min(n, total)
    if total and n / total * 100 > max_percentage + 1e-9:
        raise ActivityFailed(
            f"blast radius: touching {n} of {total} ({n / total:.0%}) exceeds the allowed {max_percentage:g}%"
        )
    return n


def check_dc_allowed(dc_pattern: str, configuration: Mapping[str, Any] | None) -> None:
    """Refuse a DC pattern that reaches outside ``configuration.chaosdrill_allow_dcs``.

    On the sandbox a glob is expanded against the running sandbox's DCs; every DC it selects
    must be listed. On Kubernetes a DC is a label value, so the name itself must be listed.
    """
    allowed: Sequence[str] | None = (configuration or {}).get("chaosdrill_allow_dcs")
    if allowed is None:
        return
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise BadInput("<experiment>", "configuration.chaosdrill_allow_dcs", "must be a list of DC names")
    if target_of(configuration) is Target.KUBERNETES:
        selected = [dc_pattern]
    else:
        from chaosdrill.sandbox.lifecycle import require_state

        selected = [dc for dc in require_state()["dcs"] if fnmatch.fnmatchcase(dc, dc_pattern)]
    outside = [dc for dc in selected if dc not in allowed]
    if outside:
        raise ActivityFailed(
            f"blast radius: dc={dc_pattern!r} reaches {outside}, outside the experiment's allowlist {list(allowed)}"
        )


def namespace_problem(namespace: str, allowed: Sequence[str] | None) -> str | None:
    """Why a drill may not touch ``namespace``, or None: the one namespace allowlist.

    With ``chaosdrill_allow_namespaces`` set, only those; without it, anything but the
    system namespaces. The Kubernetes driver raises it as BadInput, preflight reports it.
    """
    if not namespace:
        return "must not be empty"
    if allowed is None:
        if namespace in SYSTEM_NAMESPACES:
            return f"{namespace!r} is a system namespace; list it in chaosdrill_allow_namespaces to allow it"
        return None
    if namespace not in allowed:
        return f"{namespace!r} is not in configuration.chaosdrill_allow_namespaces {list(allowed)}"
    return None
