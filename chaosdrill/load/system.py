"""Which service an experiment's load goes to: the one seam between the load and the system file.

The load control asks :func:`endpoints_for` for the endpoints of the system the experiment
selected, and falls back to the sandbox's own contract when there is none. Keeping that
question in one function means the load never learns how systems are chosen or where their
files live: it asks :func:`chaosdrill.system.system_of` for the system file (checked whole
against its schema) when ``chaosdrill_target`` is ``system``, and types its ``endpoints``.
"""

from collections.abc import Mapping
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.load.template import Endpoints, parse_endpoints
from chaosdrill.system import SYSTEM_ENV, system_of

__all__ = ["SYSTEM_ENV", "SYSTEM_TARGET", "endpoints_for"]

SYSTEM_TARGET = "system"


def endpoints_for(configuration: Mapping[str, Any] | None) -> Endpoints | None:
    """The endpoints of the system the experiment selected; None when it selected no system
    (the sandbox, or Kubernetes without a system file), so the load speaks the sandbox contract."""
    config = configuration or {}
    if config.get("chaosdrill_target") != SYSTEM_TARGET:
        return None
    system = system_of(config)
    if system is None:
        raise BadInput(
            "<experiment>",
            "configuration.chaosdrill_system",
            f"a system file path is required when chaosdrill_target is system (or set ${SYSTEM_ENV})",
        )
    return parse_endpoints(system.endpoints, system.path)
