"""A service nobody on the team wrote, to drill: nginx in front of two httpbin servers.

    python examples/nginx-httpbin/example.py up|down|status [--home DIR] [--timeout S]

``up`` starts, on 127.0.0.1 with ports chosen free at start:

- two httpbin servers under gunicorn (``httpbin-a``, ``httpbin-b``);
- a toxiproxy server with the proxies ``upstream-a`` and ``upstream-b``, one in front of each;
- nginx, balancing ``least_conn`` over the two proxies, with stub_status on a port of its own;
- the nginx Prometheus exporter, reading stub_status;
- Prometheus, scraping the exporter every second;

then waits until nginx answers through both upstreams and Prometheus has the exporter up,
and writes ``HOME/system.yaml``, the system file the experiments beside this script use.
Every child runs in a session (and so a process group) of its own, recorded in
``HOME/state.json`` as it starts: ``down`` stops every group from that file alone, so it
works even after the launcher itself was killed.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from chaosdrill import paths, procs, tools
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import ChaosdrillError
from chaosdrill.system import load_system

NAME = "nginx-httpbin"
PROXIES = {"a": "upstream-a", "b": "upstream-b"}
JOB = "nginx"  # Prometheus' job for the exporter: `up{job="nginx"}`
HEALTH_PATH = "/get"
PORT_ATTEMPTS = 3  # a port picked free may be taken by someone else before the child binds it
STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL for whatever is left after this long
KILL_WAIT_S = 5.0
APT_HINT = "install it with `apt-get install nginx prometheus prometheus-nginx-exporter` (or run ci/setup.sh)"


class NotUp(Exception):
    """A part of the example did not come up; the message names it and why."""


def default_home() -> Path:
    return paths.home() / "examples" / NAME


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot: with the pid, it names one process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


# --------------------------------------------------------------------------- the state file


@dataclass
class Child:
    """One started process: the leader of its own session and process group."""

    name: str
    pid: int
    ticks: int | None
    argv: list[str]
    log: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "pgid": self.pid,
            "start_ticks": self.ticks,
            "argv": self.argv,
            "log": self.log,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Child":
        return cls(
            str(raw["name"]), int(raw["pid"]), raw.get("start_ticks"), list(raw["argv"]), str(raw["log"])
        )

    def members(self) -> list[int]:
        """The live processes of this child's group, if the group is still ours.

        The leader's start time tells a reused pid from ours. A group whose leader has gone
        but whose members live is still ours: Linux never hands out a pid that is in use as
        a process group id.
        """
        now = start_ticks(self.pid)
        if now is not None and self.ticks is not None and now != self.ticks:
            return []  # the pid is another process now; our group ended long ago
        return procs.group_members(self.pid)


class State:
    """``HOME/state.json``: written after every start, so ``down`` always knows every child."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "state.json"
        self.children: list[Child] = []
        self.info: dict[str, Any] = {}

    @classmethod
    def load(cls, home: Path) -> "State | None":
        state = cls(home)
        try:
            raw = json.loads(state.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SystemExit(f"{state.path}: unreadable state file: {e}") from e
        state.children = [Child.from_dict(c) for c in raw.get("processes") or []]
        state.info = dict(raw.get("info") or {})
        return state

    def save(self) -> None:
        doc = {
            "name": NAME,
            "home": str(self.home),
            "processes": [c.to_dict() for c in self.children],
            "info": self.info,
        }
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(self.path)

    def running(self) -> list[Child]:
        return [c for c in self.children if c.members()]


# --------------------------------------------------------------------------- stopping


def stop_children(
    children: list[Child], popens: dict[int, subprocess.Popen[bytes]] | None = None
) -> list[str]:
    """SIGTERM every child's group, SIGKILL what is left after a grace; the names of any survivors."""
    popens = popens or {}

    def reap() -> None:  # our own children become zombies until waited for
        for proc in popens.values():
            proc.poll()

    def signal_all(sig: signal.Signals) -> None:
        for child in children:
            if child.members():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, sig)

    def wait_empty(timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            reap()
            if not any(c.members() for c in children):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    signal_all(signal.SIGTERM)
    if not wait_empty(STOP_GRACE_S):
        signal_all(signal.SIGKILL)
        wait_empty(KILL_WAIT_S)
    reap()
    return [f"{c.name} (pids {c.members()})" for c in children if c.members()]


# --------------------------------------------------------------------------- configuration files


def nginx_conf(home: Path, port: int, status_port: int, upstreams: dict[str, str]) -> str:
    """nginx's own configuration: everything it writes stays in ``home``."""
    servers = "\n".join(f"        server {addr};  # {PROXIES[az]}" for az, addr in upstreams.items())
    served_by = "\n".join(f'        "{addr}" {az};' for az, addr in upstreams.items())
    tmp = home / "nginx-tmp"
    return f"""# Written by examples/nginx-httpbin/example.py; rewritten on every `up`.
worker_processes 1;
daemon off;
pid {home}/nginx.pid;
error_log {home}/logs/nginx-error.log notice;

events {{
    worker_connections 1024;
}}

http {{
    access_log {home}/logs/nginx-access.log;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    proxy_max_temp_file_size 0;  # buffer in memory only: workers may not be allowed into {home}

    # Each upstream is a toxiproxy proxy in front of one httpbin: the links a drill slows down.
    upstream httpbin {{
        least_conn;
{servers}
        keepalive 16;
    }}

    # Which upstream answered ("a" or "b"; a retried request names both addresses).
    map $upstream_addr $served_by {{
{served_by}
        default retried;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://httpbin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_send_timeout 2s;
            proxy_read_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 2;
            add_header X-Served-By $served_by always;
        }}
    }}

    server {{
        listen 127.0.0.1:{status_port};
        access_log off;
        location = /stub_status {{
            stub_status;
        }}
    }}
}}
"""


def prometheus_conf(exporter: str) -> str:
    doc = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [exporter]}]}],
    }
    return "# Written by examples/nginx-httpbin/example.py; rewritten on every `up`.\n" + yaml.safe_dump(
        doc, sort_keys=False
    )


def system_doc(nginx_url: str, toxiproxy_api: str, prometheus_url: str) -> dict[str, Any]:
    """The system file: what chaosdrill needs to know to drill this service, and nothing else."""
    return {
        "apiVersion": "chaosdrill.io/v1",
        "kind": "System",
        "name": NAME,
        "endpoints": {
            "base_url": nginx_url,
            "health_url": f"{nginx_url}{HEALTH_PATH}",
            "requests": {
                "default": {
                    "method": "GET",
                    "path": "/get?user={user}&seq={seq}",
                    "headers": {"X-Tenant": "{tenant}"},
                }
            },
            "outcomes": {"rejected_statuses": [429], "served_by_header": "X-Served-By"},
        },
        "toxiproxy": [
            {
                "api": toxiproxy_api,
                "links": [
                    {
                        "dc": "dc1",
                        "az": az,
                        "link": "upstream",
                        "proxies": [proxy],
                        "health_path": HEALTH_PATH,
                    }
                    for az, proxy in PROXIES.items()
                ],
            }
        ],
        "prometheus": {"url": prometheus_url},
    }


# --------------------------------------------------------------------------- starting


def http_ok(url: str, timeout_s: float = 1.0) -> requests.Response | None:
    try:
        resp = requests.get(url, timeout=timeout_s)
    except requests.RequestException:
        return None
    return resp if resp.status_code == 200 else None


class Launcher:
    """Starts the children one by one, recording each; stops them all if anything fails."""

    def __init__(self, home: Path, timeout_s: float) -> None:
        self.home = home
        self.logs = home / "logs"
        self.state = State(home)
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        self.timeout_s = timeout_s
        self.popens: dict[int, subprocess.Popen[bytes]] = {}

    def say(self, message: str) -> None:
        print(f"[{NAME}] {time.monotonic() - self.started:5.1f}s {message}", flush=True)

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: `down` signals it and everything it forks
            )
        self.popens[proc.pid] = proc
        self.state.children.append(Child(name, proc.pid, start_ticks(proc.pid), argv, str(log)))
        self.state.save()
        return proc

    def forget(self, proc: subprocess.Popen[bytes]) -> None:
        """A child that exited on its own (a port taken under it): wait for it, drop its record."""
        proc.wait()
        self.popens.pop(proc.pid, None)
        self.state.children = [c for c in self.state.children if c.pid != proc.pid]
        self.state.save()

    def log_tail(self, name: str, lines: int = 5) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def wait_for(self, what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes] | None) -> bool:
        """Poll ``check`` until it holds (True), ``proc`` exits (False), or the deadline (NotUp)."""
        while True:
            if check():
                return True
            if proc is not None and proc.poll() is not None:
                return False
            if self.left_s() <= 0:
                raise NotUp(f"{what} did not come up within {self.timeout_s:g}s")
            time.sleep(0.1)

    def start_on_port(
        self, name: str, argv_for: Callable[[int], list[str]], ready: Callable[[int], bool]
    ) -> int:
        """Start ``name`` on a free port and wait until ``ready``; retry on a new port if it exits."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            proc = self.spawn(name, argv_for(port))
            if self.wait_for(f"{name} (port {port})", lambda p=port: ready(p), proc):  # type: ignore[misc]
                self.say(f"{name}: pid {proc.pid}, 127.0.0.1:{port}")
                return port
            code = proc.returncode
            self.forget(proc)
            if attempt < PORT_ATTEMPTS:
                self.say(f"{name} exited ({code}) on port {port}, trying another: {self.log_tail(name, 1)}")
        raise NotUp(f"{name} exited on each of {PORT_ATTEMPTS} ports; its log: {self.log_tail(name)}")

    # --- the parts, in order -----------------------------------------------------------------

    def httpbin(self, az: str) -> int:
        def argv(port: int) -> list[str]:
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "8",
                "--graceful-timeout",
                "3",
                "--no-control-socket",
                "--name",
                f"httpbin-{az}",
                "httpbin:app",
            ]

        return self.start_on_port(
            f"httpbin-{az}", argv, lambda port: http_ok(f"http://127.0.0.1:{port}{HEALTH_PATH}") is not None
        )

    def toxiproxy(self, upstreams: dict[str, int]) -> tuple[str, dict[str, str]]:
        binary = tools.toxiproxy_server(self.say)
        port = self.start_on_port(
            "toxiproxy",
            lambda p: [str(binary), "-host", "127.0.0.1", "-port", str(p)],
            lambda p: http_ok(f"http://127.0.0.1:{p}/version") is not None,
        )
        api = f"http://127.0.0.1:{port}"
        client = ToxiproxyClient(api)
        listens = {}
        for az, proxy in PROXIES.items():
            created = client.create_proxy(proxy, f"127.0.0.1:{upstreams[az]}", "127.0.0.1:0")
            listens[az] = created.listen
            self.say(f"toxiproxy: {proxy} listens on {created.listen}, upstream httpbin-{az}")
        return api, listens

    def nginx(self, listens: dict[str, str]) -> tuple[int, int]:
        binary = tools.find_system_binary("nginx", APT_HINT)
        conf = self.home / "nginx.conf"
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.home / "nginx-tmp" / sub).mkdir(parents=True, exist_ok=True)
        ports: dict[int, int] = {}  # the main port of each attempt -> its stub_status port

        def argv(port: int) -> list[str]:
            ports[port] = status = free_port()
            conf.write_text(nginx_conf(self.home, port, status, listens))
            errors = self.logs / "nginx-error.log"
            return [str(binary), "-p", f"{self.home}/", "-c", str(conf), "-e", str(errors)]

        def ready(port: int) -> bool:
            return http_ok(f"http://127.0.0.1:{ports[port]}/stub_status") is not None

        port = self.start_on_port("nginx", argv, ready)
        return port, ports[port]

    def exporter(self, status_port: int) -> int:
        binary = tools.find_system_binary("prometheus-nginx-exporter", APT_HINT)
        scrape = f"http://127.0.0.1:{status_port}/stub_status"

        def ready(port: int) -> bool:
            resp = http_ok(f"http://127.0.0.1:{port}/metrics")
            return resp is not None and "\nnginx_up 1" in resp.text

        return self.start_on_port(
            "nginx-exporter",
            lambda p: [
                str(binary),
                f"--nginx.scrape-uri={scrape}",
                f"--web.listen-address=127.0.0.1:{p}",
                "--nginx.retries=10",
                "--nginx.retry-interval=500ms",
            ],
            ready,
        )

    def prometheus(self, exporter_port: int) -> int:
        binary = tools.find_system_binary("prometheus", APT_HINT)
        conf, data = self.home / "prometheus.yml", self.home / "prometheus-data"
        conf.write_text(prometheus_conf(f"127.0.0.1:{exporter_port}"))
        if data.exists():  # a previous instance's series would mislead a probe
            shutil.rmtree(data)
        return self.start_on_port(
            "prometheus",
            lambda p: [
                str(binary),
                f"--config.file={conf}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address=127.0.0.1:{p}",
            ],
            lambda p: http_ok(f"http://127.0.0.1:{p}/-/ready") is not None,
        )

    def wait_target_up(self, prometheus_url: str) -> None:
        query = f'up{{job="{JOB}"}} == 1'

        def up() -> bool:
            try:
                resp = requests.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=2)
                return bool(resp.ok and resp.json()["data"]["result"])
            except (requests.RequestException, ValueError, KeyError):
                return False

        try:
            self.wait_for(f"Prometheus' scrape of the exporter ({query})", up, None)
        except NotUp as e:
            raise NotUp(f"{e}; see {prometheus_url}/targets and {self.logs}/prometheus.log") from e
        self.say(f"prometheus: {query} holds")

    def wait_both_upstreams(self, nginx_url: str, listens: dict[str, str]) -> None:
        """nginx answers 200 through each upstream (least_conn alternates while both are idle)."""
        seen: set[str] = set()
        last = "no answer yet"

        def both() -> bool:
            nonlocal last
            try:
                resp = requests.get(f"{nginx_url}{HEALTH_PATH}?probe=up", timeout=3)
            except requests.RequestException as e:
                last = str(e)
                return False
            last = f"HTTP {resp.status_code} served by {resp.headers.get('X-Served-By')!r}"
            if resp.status_code == 200:
                seen.add(resp.headers.get("X-Served-By", ""))
            return set(PROXIES) <= seen

        try:
            self.wait_for("nginx through both upstreams", both, None)
        except NotUp as e:
            missing = sorted(set(PROXIES) - seen)
            detail = []
            for az in missing:
                direct = http_ok(f"http://{listens[az]}{HEALTH_PATH}", timeout_s=3)
                detail.append(
                    f"{PROXIES[az]} ({listens[az]}) {'answers' if direct else 'does not answer'} directly"
                )
            raise NotUp(
                f"{e}: no 200 through upstream {', '.join(missing)} (last: {last}); {'; '.join(detail)}; "
                f"see {self.logs}/nginx-error.log"
            ) from e
        self.say(f"nginx: GET {HEALTH_PATH} answered 200 through upstream-a and upstream-b")

    def up(self) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.state.info = {"started": time.time()}
        self.state.save()
        httpbin = {az: self.httpbin(az) for az in PROXIES}
        api, listens = self.toxiproxy(httpbin)
        port, status_port = self.nginx(listens)
        exporter = self.exporter(status_port)
        prom = self.prometheus(exporter)
        nginx_url, prometheus_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prom}"
        self.wait_both_upstreams(nginx_url, listens)
        self.wait_target_up(prometheus_url)

        system = self.home / "system.yaml"
        doc = system_doc(nginx_url, api, prometheus_url)
        header = "# Written by examples/nginx-httpbin/example.py up; valid while it runs.\n"
        system.write_text(header + yaml.safe_dump(doc, sort_keys=False))
        load_system(system)  # the file must be one chaosdrill accepts: fail `up` here, not a drill
        self.state.info.update(
            nginx=nginx_url,
            stub_status=f"http://127.0.0.1:{status_port}/stub_status",
            httpbin={az: f"http://127.0.0.1:{p}" for az, p in httpbin.items()},
            toxiproxy=api,
            proxies={PROXIES[az]: listen for az, listen in listens.items()},
            exporter=f"http://127.0.0.1:{exporter}/metrics",
            prometheus=prometheus_url,
            system_file=str(system),
            ready=time.time(),
        )
        self.state.save()
        return system


# --------------------------------------------------------------------------- commands


@contextlib.contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) during ``up`` unwind like Ctrl-C, so what was started is stopped."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_up(home: Path, timeout_s: float) -> int:
    home.mkdir(parents=True, exist_ok=True)
    old = State.load(home)
    if old is not None and old.running():
        names = ", ".join(c.name for c in old.running())
        print(f"{NAME} is already running from {home} ({names}); run `down` first", file=sys.stderr)
        return 1
    launcher = Launcher(home, timeout_s)
    failure = ""
    with terminated_as_interrupt():
        try:
            system = launcher.up()
        except NotUp as e:
            failure = f"{NAME} did not come up: {e}"
        except (ChaosdrillError, OSError, requests.RequestException) as e:
            failure = f"{NAME} did not come up: {type(e).__name__}: {e}"
        except KeyboardInterrupt as e:
            failure = f"{NAME}: interrupted ({e or 'SIGINT'}) while starting"
        if failure:
            print(failure, file=sys.stderr)
            print(f"[{NAME}] stopping what was started (logs stay in {launcher.logs})", file=sys.stderr)
            left = stop_children(launcher.state.children, launcher.popens)
            if left:
                print(f"[{NAME}] still running: {', '.join(left)}", file=sys.stderr)
            else:
                launcher.state.path.unlink(missing_ok=True)
            return 1
    print(
        f"[{NAME}] up. nginx: {launcher.state.info['nginx']}  prometheus: {launcher.state.info['prometheus']}"
    )
    print(f"[{NAME}] system file: {system}")
    print(f"export CHAOSDRILL_SYSTEM={system}")
    return 0


def cmd_down(home: Path) -> int:
    state = State.load(home)
    if state is None:
        print(f"[{NAME}] nothing to stop: no {home / 'state.json'}")
        return 0
    left = stop_children(state.children)
    if left:
        print(f"[{NAME}] still running after SIGKILL: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"[{NAME}] stopped {len(state.children)} process groups; logs stay in {home / 'logs'}")
    state.path.unlink(missing_ok=True)
    (home / "system.yaml").unlink(missing_ok=True)  # it names ports nothing listens on any more
    return 0


def cmd_status(home: Path) -> int:
    state = State.load(home)
    if state is None:
        print(f"[{NAME}] not running (no {home / 'state.json'})")
        return 3
    width = max((len(c.name) for c in state.children), default=0)
    for child in state.children:
        members = child.members()
        print(f"{child.name:<{width}}  pid {child.pid:<7}  {'running' if members else 'STOPPED'}")
    for key in ("nginx", "toxiproxy", "prometheus", "system_file"):
        if key in state.info:
            print(f"{key}: {state.info[key]}")
    if "ready" not in state.info:
        print(f"[{NAME}] `up` has not finished (or failed): run `down` to clean up")
        return 1
    return 0 if all(c.members() for c in state.children) else 1


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", type=Path, default=None, help=f"state, logs and configs (default {default_home()})"
    )
    parser = argparse.ArgumentParser(prog="example.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="start everything, write HOME/system.yaml")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for it all to be ready")
    commands.add_parser("down", parents=[common], help="stop everything HOME/state.json names")
    commands.add_parser("status", parents=[common], help="what is running")
    args = parser.parse_args(argv)
    home = (args.home or default_home()).expanduser().resolve()
    if args.command == "up":
        return cmd_up(home, args.timeout)
    if args.command == "down":
        return cmd_down(home)
    return cmd_status(home)


if __name__ == "__main__":
    sys.exit(main())
