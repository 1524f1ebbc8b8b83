"""Which kind of system an experiment drives: ``configuration.chaosdrill_target``."""

from collections.abc import Mapping
from enum import Enum
from typing import Any

from chaosdrill.errors import BadInput

__all__ = ["Target", "target_of"]


class Target(Enum):
    SANDBOX = "sandbox"
    KUBERNETES = "kubernetes"
    SYSTEM = "system"  # a team's own service, described by its system file


def target_of(configuration: Mapping[str, Any] | None) -> Target:
    """The engine an experiment drives, from ``configuration.chaosdrill_target``."""
    raw = (configuration or {}).get("chaosdrill_target", Target.SANDBOX.value)
    try:
        return Target(raw)
    except ValueError as e:
        choices = ", ".join(t.value for t in Target)
        raise BadInput(
            "<experiment>", "configuration.chaosdrill_target", f"{raw!r} is not one of {choices}"
        ) from e
