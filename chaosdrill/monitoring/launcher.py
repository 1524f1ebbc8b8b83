"""Start the monitoring processes as the supervisor's children and keep their targets current.

The supervisor owns every process of the sandbox (PR_SET_PDEATHSIG, one process group), so
this module never spawns anything itself: it is handed the supervisor's spawn function and
decides what to start, in which order, with which configuration. Order matters: the webhook
receiver first (Alertmanager's config names it), then Alertmanager (Prometheus' config names
it), then Prometheus.
"""

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from chaosdrill.monitoring import processes
from chaosdrill.monitoring.alertmanager_config import render_alertmanager_config
from chaosdrill.monitoring.layout import SandboxMonitoringPaths, shipped_dir
from chaosdrill.monitoring.prometheus_config import PrometheusConfig, render_prometheus_config
from chaosdrill.monitoring.readiness import ProcessExited, wait_ready, wait_targets_up
from chaosdrill.monitoring.rules import RuleParams, render_rules
from chaosdrill.monitoring.targets import TargetsFile, target_groups

__all__ = ["MonitoringStack", "SpawnedChild"]

READY_TIMEOUT_S = 20.0
TARGETS_TIMEOUT_S = 30.0  # Prometheus applies discovered targets every 5 s, then scrapes each 1 s
PORT_ATTEMPTS = 3  # a port picked free may be taken before the process binds it


class SpawnedChild(Protocol):
    port: int
    labels: dict[str, str]
    proc: asyncio.subprocess.Process


Spawn = Callable[[str, str, list[str], bool], Awaitable[SpawnedChild]]


class MonitoringStack:
    def __init__(self, sandbox_home: Path, spawn: Spawn, params: RuleParams | None = None) -> None:
        self.paths = SandboxMonitoringPaths.under(sandbox_home)
        self.params = params or RuleParams()
        self._spawn = spawn
        self.targets = TargetsFile(self.paths.targets_file)
        self.children: dict[str, SpawnedChild] = {}

    def prepare(self) -> None:
        """Render the rules and check the binaries before anything starts: a bad rules folder
        or a missing package fails ``sandbox up`` at once, not after a minute."""
        self.source = shipped_dir()
        self.prometheus_bin = processes.prometheus_binary()
        self.alertmanager_bin = processes.alertmanager_binary()
        for scratch in (self.paths.prometheus_data, self.paths.alertmanager_data):
            shutil.rmtree(scratch, ignore_errors=True)  # a previous instance's series would mislead
        if self.paths.notifications.exists():
            self.paths.notifications.replace(self.paths.notifications.with_suffix(".previous.jsonl"))
        render_rules(self.source / "rules", self.paths.rules_dir, self.params)

    async def start(self) -> None:
        hook = await self._spawn("webhook", "webhook", processes.webhook_argv(self.paths.notifications), True)
        hook.labels = {"component": "webhook"}
        self.children["webhook"] = hook
        render_alertmanager_config(
            self.source / "alertmanager.yml", self.paths.alertmanager_config, f"http://127.0.0.1:{hook.port}"
        )
        await self._start_http(
            "alertmanager",
            lambda port: processes.alertmanager_argv(
                self.alertmanager_bin, self.paths.alertmanager_config, self.paths.alertmanager_data, port
            ),
        )
        render_prometheus_config(
            self.paths.prometheus_config,
            PrometheusConfig(
                self.paths.rules_dir,
                self.paths.targets_file,
                f"127.0.0.1:{self.children['alertmanager'].port}",
            ),
        )
        await self._start_http(
            "prometheus",
            lambda port: processes.prometheus_argv(
                self.prometheus_bin, self.paths.prometheus_config, self.paths.prometheus_data, port
            ),
        )

    async def _start_http(self, name: str, argv: Callable[[int], list[str]]) -> None:
        last: Exception | None = None
        for _attempt in range(PORT_ATTEMPTS):
            port = processes.free_port()
            child = await self._spawn(name, name, argv(port), False)
            child.port = port
            child.labels = {"component": name}
            try:
                await wait_ready(f"http://127.0.0.1:{port}/-/ready", child.proc, READY_TIMEOUT_S)
            except ProcessExited as e:
                last = e
                continue
            except RuntimeError:
                child.proc.kill()
                raise
            self.children[name] = child
            return
        raise RuntimeError(f"{name} did not start ({last}); see its log in the sandbox logs folder")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.children[name].port}"

    def publish(self) -> dict[str, Any]:
        """``state["monitoring"]``: where each part listens, and what the rules were rendered with."""
        out: dict[str, Any] = {
            name: {"url": self.url(name), "pid": child.proc.pid} for name, child in self.children.items()
        }
        if "webhook" in out:
            out["webhook"]["notifications"] = str(self.paths.notifications)
        out["rules"] = {
            "dir": str(self.paths.rules_dir),
            "slo_target": self.params.slo_target,
            "latency_p99_threshold_s": self.params.latency_p99_threshold_s,
        }
        return out

    def update_targets(self, state: Mapping[str, Any]) -> None:
        self.targets.update(state)

    async def wait_targets_up(self, state: Mapping[str, Any]) -> None:
        addresses = [address for group in target_groups(state) for address in group["targets"]]
        await wait_targets_up(self.url("prometheus"), addresses, TARGETS_TIMEOUT_S)
