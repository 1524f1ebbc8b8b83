"""Where chaosdrill keeps its per-user state: the ledger, the sandbox state file, runs.

``CHAOSDRILL_HOME`` overrides the default so tests (and parallel drills) stay isolated.
The default is per user, not per checkout, so ``chaosdrill recover`` finds the
ledger of a crashed run wherever it is called from.
"""

import os
from pathlib import Path

__all__ = ["home", "ledger_file", "sandbox_dir", "sandbox_state_file", "sandbox_system_file"]


def home() -> Path:
    env = os.environ.get("CHAOSDRILL_HOME")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "chaosdrill"


def ledger_file() -> Path:
    return home() / "ledger.jsonl"


def sandbox_dir() -> Path:
    return home() / "sandbox"


def sandbox_system_file() -> Path:
    """The system file the running sandbox writes of itself."""
    return sandbox_dir() / "system.yaml"


def sandbox_state_file() -> Path:
    return sandbox_dir() / "state.json"
