"""Shared plumbing for activities: blast-radius settings read from the configuration.

Activities live in ``actions``/``probes``; what they share with each other lives here,
since the two packages may not import one another.
"""

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from chaosdrill.errors import ActivityFailed, BadInput

__all__ = ["check_dc_allowed", "max_percentage"]


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


def check_dc_allowed(dc_pattern: str, configuration: Mapping[str, Any] | None) -> None:
    """Refuse a DC pattern that reaches outside ``configuration.chaosdrill_allow_dcs``.

    A glob is expanded against the running sandbox's DCs; every DC it selects must be listed.
    """
    allowed: Sequence[str] | None = (configuration or {}).get("chaosdrill_allow_dcs")
    if allowed is None:
        return
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise BadInput("<experiment>", "configuration.chaosdrill_allow_dcs", "must be a list of DC names")
    from chaosdrill.sandbox.lifecycle import require_state

    selected = [dc for dc in require_state()["dcs"] if fnmatch.fnmatchcase(dc, dc_pattern)]
    outside = [dc for dc in selected if dc not in allowed]
    if outside:
        raise ActivityFailed(
            f"blast radius: dc={dc_pattern!r} reaches {outside}, outside the experiment's allowlist {list(allowed)}"
        )
