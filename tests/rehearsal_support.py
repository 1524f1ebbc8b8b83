"""Driving ``chaosdrill rehearse`` through a real terminal (tmux), and checking the sandbox after.

Each test gets its own tmux server (``-L``), so nothing is shared with a user's tmux or with
another test. The rehearsal runs in a pane of a fixed size; the test reads the screen with
``capture-pane`` and types with ``send-keys``, exactly as a person's terminal would deliver
keys (through a pty, to a process in cbreak mode).
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox import lifecycle

__all__ = ["CHAOSDRILL", "REPO", "Tmux", "assert_sandbox_clean", "record_of", "wait_until"]

REPO = Path(__file__).resolve().parents[1]
CHAOSDRILL = str(Path(sys.executable).parent / "chaosdrill")


def wait_until(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class Tmux:
    """One tmux server with one pane running ``argv``; the exit code lands in ``exit_file``."""

    def __init__(self, name: str, argv: list[str], cwd: Path, exit_file: Path) -> None:
        if shutil.which("tmux") is None:
            raise AssertionError("tmux is not installed (ci/setup.sh installs it)")
        self.socket = f"chaosdrill-test-{name}-{os.getpid()}"
        self.exit_file = exit_file
        env = {k: os.environ[k] for k in ("CHAOSDRILL_HOME", "PATH", "HOME") if k in os.environ}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = (
            f"env {exports} TERM=xterm {shlex.join(argv)}; echo $? > {shlex.quote(str(exit_file))}; sleep 600"
        )
        self._tmux("new-session", "-d", "-s", "gameday", "-x", "160", "-y", "50", "-c", str(cwd), command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "gameday")

    def keys(self, *keys: str) -> float:
        """Type ``keys`` (tmux key names: ``Enter``, ``C-c``; ``-l`` for literal text); returns
        the wall-clock time just before they were sent."""
        at = time.time()
        self._tmux("send-keys", "-t", "gameday", *keys)
        return at

    def wait_for(self, text: str, timeout_s: float) -> str:
        found: list[str] = []

        def seen() -> bool:
            found[:] = [self.screen()]
            if text not in found[0] and self.exit_file.is_file():
                raise AssertionError(f"the rehearsal exited; the screen shows:\n{found[0]}")
            return text in found[0]

        try:
            wait_until(seen, timeout_s, f"{text!r} on the screen")
        except AssertionError as e:
            raise AssertionError(f"{e}; the screen shows:\n{found[0] if found else ''}") from e
        return found[0]

    def exit_code(self, timeout_s: float) -> int:
        wait_until(lambda: self.exit_file.is_file() and self.exit_file.read_text().strip(), timeout_s, "exit")
        return int(self.exit_file.read_text().strip())

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20, check=False
        )


def record_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "rehearsal.json").read_text())
    return data


def assert_sandbox_clean() -> None:
    """No fault active in the ledger; every gateway up with defences on; every pool at its replicas."""
    assert default_ledger().replay() == [], "the ledger holds no active fault"
    state = lifecycle.require_state()
    assert all(info.get("gateway") for info in state["dcs"].values()), "every DC's gateway is back"
    assert not [f"{dc}/{az}" for dc, i in state["dcs"].items() for az, p in i["azs"].items() if p["held"]]
    for dc, info in state["dcs"].items():
        gateway = info.get("gateway")
        assert gateway is not None, dc
        defences = requests.get(f"{gateway['url']}/admin/state", timeout=5).json()["defences"]
        assert all(defences.values()), (dc, defences)
    wait_until(
        lambda: all(n >= 2 for n in lifecycle.status()["replicas"].values()), 30, "every pool's replicas"
    )
    answer = requests.post(
        f"{lifecycle.edge_url(state)}/v1/generate",
        json={"prompt": "hello", "max_tokens": 8},
        headers={"X-User": "u1", "X-Tenant": "t1", "X-Priority": "interactive"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:200]
