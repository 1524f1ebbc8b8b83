"""Render ``prometheus.yml`` for the sandbox: scrape and evaluate every second, targets from a file.

One second is cheap on loopback and makes a drill's minute hold sixty samples. Replicas come
and go on new ports, so targets are not listed here but in a ``file_sd`` file that the
supervisor rewrites whenever its state changes; Prometheus watches it (inotify) and applies
changes within its discovery update period (5 s).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["EVALUATION_INTERVAL", "JOB", "SCRAPE_INTERVAL", "PrometheusConfig", "render_prometheus_config"]

SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"
SCRAPE_TIMEOUT = "900ms"  # must not exceed the interval
JOB = "chaosdrill-sandbox"


@dataclass(frozen=True)
class PrometheusConfig:
    rules_dir: Path
    targets_file: Path
    alertmanager: str  # host:port


def _document(cfg: PrometheusConfig) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_TIMEOUT,
            "evaluation_interval": EVALUATION_INTERVAL,
        },
        "rule_files": [str(cfg.rules_dir / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [cfg.alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": JOB,
                "file_sd_configs": [{"files": [str(cfg.targets_file)], "refresh_interval": "5s"}],
            }
        ],
    }


def render_prometheus_config(dest: Path, cfg: PrometheusConfig) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(_document(cfg), sort_keys=False), encoding="utf-8")
    return dest
