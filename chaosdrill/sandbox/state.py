"""The sandbox state file: the one place endpoints are published (no fixed ports).

Only the supervisor writes it, atomically (write a temp file, fsync, rename), so
readers — gateways, the edge, drivers, probes — never see a torn document.
"""

import json
import os
from pathlib import Path
from typing import Any, TypedDict

__all__ = [
    "DcState",
    "Endpoint",
    "PoolState",
    "ReplicaState",
    "SandboxState",
    "SessionMemberState",
    "SessionStoreState",
    "SlotState",
    "read_state",
    "write_state",
]


class Endpoint(TypedDict, total=False):
    """A child process that serves HTTP: where, and its pid (``port`` for gateways)."""

    url: str
    pid: int
    port: int


class ReplicaState(TypedDict):
    name: str
    pid: int
    port: int
    started_at: float
    labels: dict[str, str]


class SlotState(TypedDict):
    """One place in an AZ pool: its toxiproxy proxy, and the replica behind it if one runs."""

    index: int
    proxy: str
    listen: str
    replica: ReplicaState | None


class PoolState(TypedDict):
    desired: int
    held: bool
    slots: list[SlotState]


class DcState(TypedDict):
    gateway: Endpoint | None
    redis: dict[str, Any]  # proxy, listen, upstream, pid: absent when Redis is not up yet
    azs: dict[str, PoolState]


class SupervisorState(TypedDict):
    pid: int
    pgid: int
    api: str


class ToxiproxyState(TypedDict):
    api: str
    pid: int


class _Required(TypedDict):
    instance: str
    ready: bool
    supervisor: SupervisorState
    dcs: dict[str, DcState]
    pids: list[int]


class SandboxState(_Required, total=False):
    """``state.json``: what the supervisor publishes about the running sandbox, the one place
    its endpoints are found. ``monitoring`` is there only when the sandbox runs Prometheus."""

    toxiproxy: ToxiproxyState | None
    edge: Endpoint | None
    autoscaler: Endpoint | None
    topology: dict[str, Any]
    events: list[dict[str, Any]]
    monitoring: dict[str, Any]
    down_dcs: list[str]
    sessions: dict[str, "SessionStoreState"]


class SessionMemberState(TypedDict):
    """One Redis holding a DC's session state: its proxy (the gateways' path), port, pid."""

    proxy: str
    listen: str
    port: int
    pid: int | None


class SessionStoreState(TypedDict):
    """A DC's session state: where its primary is (the routing table the gateways follow),
    its replication link, its members by hosting DC, and its recent promotions."""

    primary: str
    address: str
    repl: dict[str, str]
    members: dict[str, SessionMemberState]
    history: list[dict[str, Any]]


def write_state(path: Path, state: SandboxState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def read_state(path: Path) -> SandboxState | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data: SandboxState = json.load(fh)
            return data
    except FileNotFoundError:
        return None
