"""Headless Chromium, driven over the DevTools protocol, with every network request observed.

A page is loaded from a ``file://`` URL in a fresh profile. Two independent witnesses see
what it fetches:

- the DevTools ``Network`` domain reports every request the page issues
  (``Network.requestWillBeSent``), whatever its scheme;
- Chromium's proxy is a recorder on loopback that answers 403 to anything it is asked
  (``GET http://...`` or ``CONNECT host:443``), so no request can leave the machine and
  any that Chromium tries is written down. Loopback is not bypassed either.

Chromium still talks to a few of its own service hosts in the background (component
updates, account checks) whatever the flags say; the recorder refuses those like anything
else, and :meth:`PageLoad.foreign_proxied` leaves exactly those hosts out. Everything is
bounded in time; the browser is started in a session of its own and that process group,
ours alone, is killed at the end.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

__all__ = ["CHROMIUM_OWN_HOSTS", "Browser", "PageLoad", "chromium_binary", "headless_chromium"]

_FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-pings",
    "--disable-features=NetworkTimeServiceQuerying,MediaRouter,Translate,OptimizationHints",
    "--proxy-bypass-list=<-loopback>",  # loopback goes through the recorder too
    "--window-size=1400,1000",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("chromium is not installed: `make setup` installs it (ci/setup.sh)")
    return found


class _Recorder:
    """An HTTP proxy on loopback that refuses everything and remembers the request lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="proxy-recorder", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                self.lines.append(head.split("\r\n", 1)[0] or "<a connection without a request>")
                with suppress(OSError):
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@dataclass
class PageLoad:
    """What one page load did: the requests it made, and what the proxy was asked."""

    url: str
    requests: list[str] = field(default_factory=list)
    proxied: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        """Every request other than the page itself and inline ``data:`` URLs."""
        return [u for u in self.requests if u != self.url and not u.startswith(("data:", "about:"))]

    def foreign_proxied(self) -> list[str]:
        """What the proxy was asked, less Chromium's own background calls (exact hosts)."""
        return [line for line in self.proxied if _host(line) not in CHROMIUM_OWN_HOSTS]


# Hosts Chromium calls by itself even with background networking disabled (seen with the
# Debian package 156): component updates, account checks, network time. Exact names only,
# so a page asking for, say, a web font host is still caught.
CHROMIUM_OWN_HOSTS = frozenset(
    {
        "update.googleapis.com",
        "accounts.google.com",
        "clients2.google.com",
        "optimizationguide-pa.googleapis.com",
    }
)


def _host(request_line: str) -> str:
    """The host of ``CONNECT host:443 HTTP/1.1`` or ``GET http://host/path HTTP/1.1``."""
    parts = request_line.split()
    if len(parts) < 2:
        return ""
    authority = parts[1].split("://", 1)[-1].split("/", 1)[0]
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


class Browser:
    """One page (a DevTools session) in a running headless Chromium."""

    def __init__(self, ws: websocket.WebSocket, recorder: _Recorder) -> None:
        self._ws = ws
        self._recorder = recorder
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Network", "Page", "Runtime", "Log"):
            self._call(f"{domain}.enable", session=True)

    def _call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = False,
        timeout_s: float = 30,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._ws.settimeout(max(0.05, deadline - time.monotonic()))
            reply = json.loads(self._ws.recv())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"DevTools {method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result") or {}
                return result
            self._events.append(reply)
        raise AssertionError(f"DevTools {method}: no answer within {timeout_s}s")

    def _drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` (late requests, console errors)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self._events.append(json.loads(self._ws.recv()))
            except websocket.WebSocketTimeoutException:
                return

    def load(self, url: str, *, timeout_s: float = 30, settle_s: float = 1.0) -> PageLoad:
        """Navigate to ``url``, wait for its load event, then ``settle_s`` more for late requests."""
        self._events.clear()
        before = len(self._recorder.lines)
        self._call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not finish loading within {timeout_s}s")
            self._drain(0.2)
        self._drain(settle_s)
        load = PageLoad(url=url, proxied=self._recorder.lines[before:])
        for event in self._events:
            params = event.get("params") or {}
            if event.get("method") == "Network.requestWillBeSent":
                load.requests.append(str(params["request"]["url"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                load.console_errors.append(json.dumps(params.get("exceptionDetails"))[:300])
            elif event.get("method") == "Log.entryAdded" and params["entry"].get("level") == "error":
                load.console_errors.append(str(params["entry"].get("text")))
        return load

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        reply = self._call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the window), as ``chromium --screenshot`` takes one."""
        shot = self._call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _devtools_endpoint(profile: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited {proc.returncode} before DevTools was up")
        if marker.is_file():
            lines = marker.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    raise AssertionError(f"chromium's DevTools did not come up within {timeout_s}s")


@contextmanager
def headless_chromium(workdir: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (profile and log in ``workdir``) with its proxy recorder."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    recorder = _Recorder()
    argv = [
        chromium_binary(),
        *_FLAGS,
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{recorder.port}",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    with (workdir / "chromium.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    ws: websocket.WebSocket | None = None
    try:
        ws = websocket.create_connection(
            _devtools_endpoint(profile, proc, 30), timeout=30, suppress_origin=True
        )
        yield Browser(ws, recorder)
    finally:
        if ws is not None:
            ws.close()
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the browser's own session: only what we started
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        recorder.close()
