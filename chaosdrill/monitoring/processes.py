"""Command lines of the monitoring processes, and the loopback ports they listen on.

Prometheus and Alertmanager cannot report an ephemeral port back, so a free one is picked
just before they start (and the start retried if someone else takes it first). Alertmanager's
gossip cluster is switched off: its default listens on 0.0.0.0:9094, a fixed port on every
interface, and one instance has nobody to gossip with.
"""

import socket
import sys
from pathlib import Path

from chaosdrill import tools

__all__ = [
    "alertmanager_argv",
    "alertmanager_binary",
    "free_port",
    "prometheus_argv",
    "prometheus_binary",
    "webhook_argv",
]

APT_HINT = "install it with `apt-get install prometheus prometheus-alertmanager` (or run ci/setup.sh)"
RETENTION = "1d"  # a drill's evidence lives in its report; the TSDB is scratch


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def prometheus_binary() -> Path:
    return tools.find_system_binary("prometheus", APT_HINT)


def alertmanager_binary() -> Path:
    return tools.find_system_binary("prometheus-alertmanager", APT_HINT)


def prometheus_argv(binary: Path, config: Path, data: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]


def alertmanager_argv(binary: Path, config: Path, data: Path, port: int) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]


def webhook_argv(notifications: Path) -> list[str]:
    return [sys.executable, "-m", "chaosdrill.monitoring.webhook", "--out", str(notifications)]
