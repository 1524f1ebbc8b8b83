"""A real Prometheus and Alertmanager on loopback for tests, with a gauge to flip and a webhook
receiver that records notifications the way the sandbox's receiver does.

Prometheus (behind basic auth, so every probe goes through the credentials path) scrapes a
``prometheus_client`` exporter every second and evaluates ``RULES`` every second; it sends alerts
to Alertmanager, which posts them to the receiver at once (``group_wait: 0s``). Each test picks
its own ``case`` label, so tests sharing the stack never see each other's series or alerts.
"""

import json
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

__all__ = ["ALERT", "SLOW_ALERT", "Stack", "monitoring_stack", "wait_for"]

ALERT = "ChaosdrillTestFlag"
SLOW_ALERT = "ChaosdrillTestFlagSlow"  # same condition, but `for: 5m`: pending, never firing in a test
RULES = {
    "groups": [
        {
            "name": "chaosdrill-test",
            "interval": "1s",
            "rules": [
                {"alert": ALERT, "expr": "chaosdrill_test_flag > 0", "labels": {"severity": "page"}},
                {"alert": SLOW_ALERT, "expr": "chaosdrill_test_flag > 0", "for": "5m"},
            ],
        }
    ]
}
USERNAME = "probe-user"
PASSWORD = "s3cret-pass-for-tests"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, check: Any, timeout_s: float = START_TIMEOUT_S, interval_s: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    for _ in range(int(timeout_s / interval_s) + 1):
        try:
            found = check()
            if found:
                return found
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            break
        time.sleep(interval_s)
    raise AssertionError(f"{what} did not happen within {timeout_s:g}s (last error: {last})")


@dataclass
class Stack:
    prometheus_url: str
    alertmanager_url: str
    notifications: Path
    flag: Gauge
    value: Gauge
    pids: list[int]

    def configuration(self, **extra: Any) -> dict[str, Any]:
        """An experiment's configuration naming this stack; the password comes from the environment."""
        return {
            "chaosdrill_prometheus": {
                "url": self.prometheus_url,
                "auth": {"username_env": "TEST_PROM_USER", "password_env": "TEST_PROM_PASSWORD"},
            },
            "chaosdrill_notifications": str(self.notifications),
            **extra,
        }

    def query(self, q: str) -> list[dict[str, Any]]:
        resp = requests.get(
            f"{self.prometheus_url}/api/v1/query", params={"query": q}, auth=(USERNAME, PASSWORD), timeout=5
        )
        result: list[dict[str, Any]] = resp.json()["data"]["result"]
        return result

    def wait_visible(self, q: str) -> None:
        """Until Prometheus answers ``q`` with a series (a gauge just set has been scraped)."""
        wait_for(f"{q} in Prometheus", lambda: self.query(q), timeout_s=15)


class _Receiver(BaseHTTPRequestHandler):
    path_out: Path

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        line = json.dumps({"received_at": time.time(), "payload": json.loads(body)})
        with self.path_out.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the only bcrypt at hand; Prometheus' web config wants a bcrypt hash

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


@contextmanager
def monitoring_stack(tmp: Path) -> Iterator[Stack]:
    """Exporter, webhook receiver, Alertmanager and Prometheus, all stopped on exit."""
    registry = CollectorRegistry()
    flag = Gauge("chaosdrill_test_flag", "a condition tests flip", ["case"], registry=registry)
    value = Gauge("chaosdrill_test_value", "a value tests set", ["case"], registry=registry)
    exporter, exporter_thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    _Receiver.path_out = tmp / "notifications.jsonl"
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    am_port, prom_port = free_port(), free_port()
    try:
        with _serving(receiver) as receiver_port:
            route = {
                "receiver": "webhook",
                "group_by": ["alertname", "case"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            }
            webhook = {"url": f"http://127.0.0.1:{receiver_port}/", "send_resolved": True}
            (tmp / "alertmanager.yml").write_text(
                yaml.safe_dump(
                    {"route": route, "receivers": [{"name": "webhook", "webhook_configs": [webhook]}]}
                )
            )
            (tmp / "rules.yml").write_text(yaml.safe_dump(RULES))
            (tmp / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {USERNAME: _bcrypt(PASSWORD)}}))
            (tmp / "prometheus.yml").write_text(
                yaml.safe_dump(
                    {
                        "global": {
                            "scrape_interval": "1s",
                            "evaluation_interval": "1s",
                            "scrape_timeout": "1s",
                        },
                        "rule_files": [str(tmp / "rules.yml")],
                        "alerting": {
                            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                        },
                        "scrape_configs": [
                            {
                                "job_name": "exporter",
                                "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}],
                            }
                        ],
                    }
                )
            )
            am_argv = [
                "prometheus-alertmanager",
                f"--config.file={tmp / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",  # no gossip: it would bind a fixed port on every interface
            ]
            prom_argv = [
                "prometheus",
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                f"--web.config.file={tmp / 'web.yml'}",
            ]
            with (
                _process(am_argv, tmp / "alertmanager.log") as am,
                _process(prom_argv, tmp / "prometheus.log") as prom,
            ):
                stack = Stack(
                    prometheus_url=f"http://127.0.0.1:{prom_port}",
                    alertmanager_url=f"http://127.0.0.1:{am_port}",
                    notifications=_Receiver.path_out,
                    flag=flag,
                    value=value,
                    pids=[am.pid, prom.pid],
                )
                wait_for(
                    "Alertmanager ready",
                    lambda: requests.get(f"{stack.alertmanager_url}/-/ready", timeout=2).ok,
                )
                wait_for("Prometheus scraping the exporter", lambda: stack.query('up{job="exporter"} == 1'))
                yield stack
    finally:
        exporter.shutdown()
        exporter.server_close()
        exporter_thread.join(5)
