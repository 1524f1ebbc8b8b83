"""Which service an experiment's load goes to: the one seam between the load and the system file.

The load control asks :func:`endpoints_for` for the endpoints of the system the experiment
selected, and falls back to the sandbox's own contract when there is none. Keeping that
question in one function means the load never learns how systems are chosen or where their
files live: today it reads the ``endpoints`` section of the file that
``configuration.chaosdrill_system`` (or ``$CHAOSDRILL_SYSTEM``) names when
``chaosdrill_target`` is ``system``; the system-file loader can take over this one body.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.load.template import Endpoints, load_endpoints

__all__ = ["SYSTEM_ENV", "SYSTEM_TARGET", "endpoints_for"]

SYSTEM_ENV = "CHAOSDRILL_SYSTEM"
SYSTEM_TARGET = "system"


def endpoints_for(configuration: Mapping[str, Any] | None) -> Endpoints | None:
    """The endpoints of the system the experiment selected; None when it selected no system
    (the sandbox, or Kubernetes without a system file), so the load speaks the sandbox contract."""
    config = configuration or {}
    if config.get("chaosdrill_target") != SYSTEM_TARGET:
        return None
    raw = config.get("chaosdrill_system") or os.environ.get(SYSTEM_ENV)
    if not isinstance(raw, str) or not raw.strip():
        raise BadInput(
            "<experiment>",
            "configuration.chaosdrill_system",
            f"a system file path is required when chaosdrill_target is system (or set ${SYSTEM_ENV})",
        )
    return load_endpoints(Path(raw).expanduser(), section_required=True)
