"""Starting, finding and steering a load worker from another process.

The load control starts the worker before the hypothesis and stops it after the
rollbacks; the surge action, which knows nothing about where the load's output goes,
finds the running worker through ``paths.home()/load/current.json``. Everything here
talks to the worker over its loopback control API with short timeouts, so a hung worker
turns into an error, never into a hung experiment.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput, ChaosdrillError, NotRunning
from chaosdrill.load.profile import Profile
from chaosdrill.load.template import Endpoints
from chaosdrill.load.worker import HANDLE_FILE, current_file, write_json_atomic

__all__ = ["LoadHandle", "current", "read_handle", "set_factor", "start"]

HTTP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 20.0
PROFILE_FILE = "profile.json"
ENDPOINTS_FILE = "endpoints.json"
LOG_FILE = "worker.log"


def _pid_is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"chaosdrill.load.worker" in cmdline


@dataclass
class LoadHandle:
    """A running (or finished) load worker: where it is and where it writes."""

    pid: int
    control_url: str
    measurements: Path
    out_dir: Path
    started: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.control_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                doc: dict[str, Any] = json.loads(resp.read())
                return doc
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                detail = e.reason
            if e.code in (400, 404):
                raise BadInput("<load control>", path.strip("/"), str(detail)) from e
            raise ChaosdrillError(f"load worker {self.pid}: {method} {path}: {e.code} {detail}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise NotRunning(
                f"load worker {self.pid} at {self.control_url} is not answering ({e}); "
                "start a load with `chaosdrill load run` or the load control"
            ) from e

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _pid_is_worker(self.pid)

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/status")

    def set_factor(self, stream_glob: str, factor: float) -> dict[str, Any]:
        """Multiply the base rate of the streams matching ``stream_glob`` by ``factor`` from now on."""
        return self._call("POST", "/factor", {"stream": stream_glob, "factor": factor})

    def verify(self) -> dict[str, Any]:
        """Have every session user read back before its next write (a checkpoint: after a
        failover, after a failback); returns how many were marked and the reads still due."""
        return self._call("POST", "/verify", {})

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the worker to exit; True if it did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None:
                try:
                    self.process.wait(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not self.alive():
                return True
            time.sleep(0.05)
        return not self.alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the worker to stop (it flushes its last window), escalating to SIGTERM, then SIGKILL."""
        if not self.alive():
            self.wait(0)
            return
        try:
            self._call("POST", "/stop")
        except ChaosdrillError:
            self._signal(signal.SIGTERM)
        if self.wait(timeout_s):
            return
        self._signal(signal.SIGTERM)
        if self.wait(2.0):
            return
        self._signal(signal.SIGKILL)
        self.wait(2.0)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)


def read_handle(path: Path) -> LoadHandle:
    """A handle from a ``load.json`` (or ``current.json``) file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return LoadHandle(
            pid=int(doc["pid"]),
            control_url=str(doc["control_url"]),
            measurements=Path(doc["measurements"]),
            out_dir=Path(doc["out_dir"]),
            started=float(doc.get("started", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadInput(str(path), "<file>", f"not a load handle: {e}") from e


def current() -> LoadHandle | None:
    """The load worker that is running now (the last one started), or None."""
    path = current_file()
    if not path.exists():
        return None
    try:
        handle = read_handle(path)
    except BadInput:
        return None
    return handle if handle.alive() else None


def set_factor(stream_glob: str, factor: float) -> dict[str, Any]:
    """Change the rate of the running load's streams matching ``stream_glob`` (a surge)."""
    handle = current()
    if handle is None:
        raise NotRunning("no load is running; start one with `chaosdrill load run` or the load control")
    return handle.set_factor(stream_glob, factor)


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:].strip()
    except OSError:
        return "(no log)"


def start(
    profile: Profile,
    out_dir: Path,
    *,
    endpoints: Endpoints | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> LoadHandle:
    """Spawn a worker for ``profile`` writing into ``out_dir``; return once it is sending.

    With ``endpoints`` the streams send their request templates to ``endpoints.base_url``
    (the profile's URL is not used); without, the sandbox's contract goes to the profile's URL.
    The worker dies with the calling *thread's* process parent link (PR_SET_PDEATHSIG),
    so call this from the thread that lives as long as the run (the main thread).
    """
    if endpoints is not None:
        endpoints.check_streams([s.name for s in profile.streams])
    out_dir.mkdir(parents=True, exist_ok=True)
    profile_path = out_dir / PROFILE_FILE
    write_json_atomic(profile_path, profile.to_dict())
    endpoints_path = out_dir / ENDPOINTS_FILE
    endpoints_path.unlink(missing_ok=True)
    if endpoints is not None:
        write_json_atomic(endpoints_path, endpoints.to_dict())
    handle_path = out_dir / HANDLE_FILE
    handle_path.unlink(missing_ok=True)
    log_path = out_dir / LOG_FILE
    cmd = [
        sys.executable,
        "-m",
        "chaosdrill.load.worker",
        "--profile",
        str(profile_path),
        "--out",
        str(out_dir),
        "--parent-pid",
        str(os.getpid()),
    ]
    if endpoints is not None:
        cmd += ["--endpoints", str(endpoints_path)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if handle_path.exists():
            try:
                handle = read_handle(handle_path)
            except BadInput:
                handle = None
            if handle is not None and handle.pid == proc.pid:
                handle.process = proc
                return handle
        if proc.poll() is not None:
            raise ChaosdrillError(
                f"load worker exited with {proc.returncode} before starting:\n{_log_tail(log_path)}"
            )
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise ChaosdrillError(f"load worker did not start within {timeout_s:g}s:\n{_log_tail(log_path)}")
