"""Which service an experiment's load goes to: the one seam between the load and the system file.

The load control asks :func:`endpoints_for` for the endpoints of the system the experiment
selected, and falls back to the sandbox's own contract when there is none. Keeping that
question in one function means the load never learns how systems are chosen or where their
files live: it asks :func:`chaosdrill.system.system_of` for the system file (checked whole
against its schema) when ``chaosdrill_target`` is ``system``, and types its ``endpoints``.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.load.profile import SANDBOX_TRACKING, Tracking, parse_tracking
from chaosdrill.load.template import Endpoints, parse_endpoints
from chaosdrill.system import SYSTEM_ENV, system_of

__all__ = ["SYSTEM_ENV", "SYSTEM_TARGET", "endpoints_for", "tracking_for"]

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


def tracking_for(configuration: Mapping[str, Any] | None) -> Tracking | None:
    """The header names (served-by, cell, seq, seq-ack) and session read path of the system the
    experiment selected, from its file's ``headers`` and ``session`` sections; on the sandbox,
    whatever its file leaves out is the sandbox's own contract. None when nothing names them."""
    config = configuration or {}
    system = system_of(config)
    on_sandbox = config.get("chaosdrill_target", "sandbox") == "sandbox"
    found: dict[str, Any] = {}
    if system is not None:
        if system.headers is not None:
            named = dataclasses.asdict(system.headers)
            found = {k: v for k, v in named.items() if v is not None}
        if system.session is not None:
            found["read_path"] = system.session.read_path
        source = system.path
    else:
        source = "<experiment>"
    if on_sandbox:
        defaults = {
            "served_by": SANDBOX_TRACKING.served_by,
            "cell": SANDBOX_TRACKING.cell,
            "seq": SANDBOX_TRACKING.seq,
            "seq_ack": SANDBOX_TRACKING.seq_ack,
            "read_path": SANDBOX_TRACKING.read_path,
        }
        found = {**defaults, **found}
    if not found:
        return None
    return parse_tracking(found, source, "headers")
