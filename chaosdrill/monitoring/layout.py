"""Where the monitoring files live: the shipped rules in the repo, the rendered copies in the sandbox.

The rules and the Alertmanager routing are shipped in the repo's top-level ``monitoring/``
folder so a team can read, test and copy them; ``$CHAOSDRILL_MONITORING_DIR`` points
elsewhere (an installed copy, or a team's own edited rules). What Prometheus and Alertmanager
actually read is rendered under the sandbox home, next to ``state.json``, because it holds
this instance's ports.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from chaosdrill.errors import BadInput

__all__ = ["ENV_DIR", "SandboxMonitoringPaths", "shipped_dir"]

ENV_DIR = "CHAOSDRILL_MONITORING_DIR"


def shipped_dir() -> Path:
    """The folder holding ``rules/*.yml`` and ``alertmanager.yml``; BadInput when it lacks them."""
    env = os.environ.get(ENV_DIR)
    folder = Path(env) if env else Path(__file__).resolve().parents[2] / "monitoring"
    source = f"${ENV_DIR}" if env else str(folder)
    if not (folder / "rules").is_dir():
        raise BadInput(
            source, "rules", f"no rules folder in {folder}; set ${ENV_DIR} to the monitoring folder"
        )
    if not (folder / "alertmanager.yml").is_file():
        raise BadInput(source, "alertmanager.yml", f"missing in {folder}")
    return folder


@dataclass(frozen=True)
class SandboxMonitoringPaths:
    """Everything monitoring writes under one sandbox home."""

    root: Path

    @classmethod
    def under(cls, sandbox_home: Path) -> "SandboxMonitoringPaths":
        return cls(sandbox_home / "monitoring")

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def targets_file(self) -> Path:
        return self.root / "targets" / "sandbox.json"

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus-data"

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager.yml"

    @property
    def alertmanager_data(self) -> Path:
        return self.root / "alertmanager-data"

    @property
    def notifications(self) -> Path:
        return self.root / "notifications.jsonl"
