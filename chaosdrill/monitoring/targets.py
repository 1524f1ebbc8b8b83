"""The scrape targets of a sandbox, as a Prometheus ``file_sd`` file derived from its state.

The supervisor's state is the one place endpoints are published, so the targets are a pure
function of it: each component's ``/metrics`` with the labels probes select by
(``component``, and ``dc``, ``az``, ``pool``, ``replica`` where they apply). Replicas are
scraped directly, not through their toxiproxy slot: metrics are not the data path, so a
network fault on a link does not blind the monitoring of the replicas behind it.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

__all__ = ["TargetGroup", "TargetsFile", "target_groups"]


class TargetGroup(TypedDict):
    targets: list[str]
    labels: dict[str, str]


def _hostport(url: str) -> str:
    return urlsplit(url).netloc


def _group(address: str, **labels: str) -> TargetGroup:
    return {"targets": [address], "labels": labels}


def target_groups(state: Mapping[str, Any]) -> list[TargetGroup]:
    """One group per live component, sorted for a stable file."""
    groups: list[TargetGroup] = []
    api = (state.get("supervisor") or {}).get("api")
    if api:
        groups.append(_group(_hostport(api), component="supervisor"))
    for name in ("edge", "autoscaler"):
        url = (state.get(name) or {}).get("url")
        if url:
            groups.append(_group(_hostport(url), component=name))
    for dc, info in sorted((state.get("dcs") or {}).items()):
        gateway = info.get("gateway") or {}
        if gateway.get("url"):
            groups.append(_group(_hostport(gateway["url"]), component="gateway", dc=dc))
        for az, pool in sorted((info.get("azs") or {}).items()):
            for slot in pool.get("slots", []):
                replica = slot.get("replica")
                if replica:
                    groups.append(
                        _group(
                            f"127.0.0.1:{replica['port']}",
                            component="replica",
                            dc=dc,
                            az=az,
                            pool=f"{dc}/{az}",
                            replica=str(replica["name"]),
                        )
                    )
    for name, info in sorted((state.get("monitoring") or {}).items()):
        if isinstance(info, dict) and info.get("url"):
            groups.append(_group(_hostport(info["url"]), component=name))
    return groups


class TargetsFile:
    """The file_sd file, rewritten atomically and only when the targets changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = ""

    def update(self, state: Mapping[str, Any]) -> bool:
        text = json.dumps(target_groups(state), indent=1, sort_keys=True)
        if text == self._last:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)  # Prometheus must never read a torn file
        self._last = text
        return True
