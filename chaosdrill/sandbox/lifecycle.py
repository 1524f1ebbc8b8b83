"""Bring the sandbox up and down from the CLI, tests and drills.

``up`` starts the supervisor in a session of its own (so it outlives the shell that
started it) and waits for the state file to say ready. ``down`` asks it to stop, then
kills whatever is left in its process group and checks /proc until nothing of it
remains: the promise is that ``down`` leaves no process behind, even after a crash.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chaosdrill import paths
from chaosdrill.errors import ChaosdrillError, NotRunning
from chaosdrill.monitoring.rules import RuleParams
from chaosdrill.procs import alive, group_members
from chaosdrill.sandbox import system_file
from chaosdrill.sandbox.state import SandboxState, read_state
from chaosdrill.sandbox.topology import load_topology

__all__ = ["down", "is_up", "require_state", "status", "up"]

UP_TIMEOUT_S = 60.0


def _state() -> SandboxState | None:
    return read_state(paths.sandbox_state_file())


def is_up() -> bool:
    state = _state()
    return bool(state and state.get("ready") and alive(int(state["supervisor"]["pid"])))


def edge_url(state: SandboxState) -> str:
    """The URL of the running sandbox's edge (NotRunning while it is not up)."""
    edge = state.get("edge")
    if not edge:
        raise NotRunning("the sandbox's edge is not running; `chaosdrill sandbox status` says why")
    return edge["url"]


def require_state() -> SandboxState:
    """The state of a running sandbox, or NotRunning saying how to start one."""
    state = _state()
    if not state or not alive(int(state["supervisor"]["pid"])):
        raise NotRunning(
            f"the sandbox is not running (no live state at {paths.sandbox_state_file()}); "
            "start it with `chaosdrill sandbox up`"
        )
    if not state.get("ready"):
        raise NotRunning("the sandbox is still starting; wait for `chaosdrill sandbox status` to say ready")
    return state


def up(
    topology: Path | None = None, monitoring: bool = True, slo_target: float | None = None
) -> SandboxState:
    """Start the sandbox (or return the running one's state), with Prometheus and Alertmanager
    unless ``monitoring`` is false; ``slo_target`` sets the objective their rules judge by."""
    if is_up():
        state = require_state()
        system_file.write(state)  # idempotent: the running sandbox, described again
        return state
    load_topology(topology)  # validate before starting anything
    if monitoring and slo_target is not None:
        RuleParams(slo_target=slo_target)
    down()  # clear leftovers of a crashed instance
    home = paths.sandbox_dir()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "chaosdrill.sandbox.supervisor", "--home", str(home)]
    if topology is not None:
        argv += ["--topology", str(topology.resolve())]
    if not monitoring:
        argv.append("--no-monitoring")
    elif slo_target is not None:
        argv += ["--slo-target", repr(slo_target)]
    with open(home / "logs" / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (home / "logs" / "supervisor.log").read_text(errors="replace")[-2000:]
            down()
            raise ChaosdrillError(f"the sandbox failed to start:\n{tail}")
        started = _state()
        if started and started.get("ready") and started["supervisor"]["pid"] == proc.pid:
            system_file.write(started)
            return started
        time.sleep(0.1)
    down()
    raise ChaosdrillError(f"the sandbox did not become ready within {UP_TIMEOUT_S:.0f}s; see {home / 'logs'}")


def down(timeout_s: float = 10.0) -> list[int]:
    """Stop the sandbox; returns the pids that had to be SIGKILLed."""
    state = _state()
    system_file.remove()
    if state is None:
        return []
    sup = int(state["supervisor"]["pid"])
    pgid = int(state["supervisor"]["pgid"])
    if alive(sup):
        os.kill(sup, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(sup) and time.monotonic() < deadline:
            time.sleep(0.05)
    killed = []
    recorded = {int(p) for p in state.get("pids", [])}
    for pid in set(group_members(pgid)) | {p for p in recorded if alive(p)}:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = group_members(pgid)
    if left:
        raise ChaosdrillError(f"processes of the sandbox survived SIGKILL: {left}")
    paths.sandbox_state_file().unlink(missing_ok=True)
    return killed


def status() -> dict[str, Any]:
    state = _state()
    if state is None:
        return {"up": False}
    running = [p for p in state.get("pids", []) if alive(int(p))]
    return {
        "up": is_up(),
        "instance": state.get("instance"),
        "edge": edge["url"] if (edge := state.get("edge")) else None,
        "toxiproxy": proxy["api"] if (proxy := state.get("toxiproxy")) else None,
        "supervisor": state["supervisor"]["api"],
        "processes": len(running),
        "system_file": str(system_file.system_file()) if system_file.system_file().exists() else None,
        "monitoring": {
            name: info["url"]
            for name, info in (state.get("monitoring") or {}).items()
            if isinstance(info, dict) and "url" in info
        }
        or None,
        "gateways": {dc: (info.get("gateway") or {}).get("url") for dc, info in state["dcs"].items()},
        "replicas": {
            f"{dc}/{az}": sum(1 for s in pool["slots"] if s.get("replica"))
            for dc, info in state["dcs"].items()
            for az, pool in info["azs"].items()
        },
    }
