"""The sandbox state file: the one place endpoints are published (no fixed ports).

Only the supervisor writes it, atomically (write a temp file, fsync, rename), so
readers — gateways, the edge, drivers, probes — never see a torn document.
"""

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_state", "write_state"]


def write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
            return data
    except FileNotFoundError:
        return None
