"""The monitoring launcher on its own, with a spawn function of the test's: the three processes
start in order, a port taken between picking and binding is retried on another, and
Prometheus scrapes the three of them."""

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from chaosdrill.monitoring import processes
from chaosdrill.monitoring.launcher import MonitoringStack
from chaosdrill.monitoring.rules import RuleParams
from chaosdrill.sandbox.service import die_with_parent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class Spawned:
    proc: asyncio.subprocess.Process
    port: int = 0
    labels: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port held open (listening) for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_stack_starts_retries_a_taken_port_and_is_scraped(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_free_port = processes.free_port
    offered = iter([taken_port])  # the first port offered is the taken one: Alertmanager's
    monkeypatch.setattr(processes, "free_port", lambda: next(offered, None) or real_free_port())
    started: list[Spawned] = []

    async def spawn(name: str, _kind: str, argv: list[str], expect_ready: bool) -> Spawned:
        log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if expect_ready else log,
            stderr=log,
            preexec_fn=die_with_parent,
        )
        log.close()
        child = Spawned(proc)
        started.append(child)
        if expect_ready:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            child.port = int(line.split()[1])
        return child

    async def scenario() -> dict[str, object]:
        stack = MonitoringStack(tmp_path / "sandbox", spawn, RuleParams(slo_target=0.999))
        try:
            stack.prepare()
            await stack.start()
            published = stack.publish()
            state = {"monitoring": published}
            stack.update_targets(state)
            await stack.wait_targets_up(state)
            return published
        finally:
            for child in started:
                if child.proc.returncode is None:
                    child.proc.terminate()
            await asyncio.gather(*(c.proc.wait() for c in started))

    published = asyncio.run(scenario())
    assert [c.labels.get("component") for c in started] == [
        "webhook",
        "alertmanager",
        "alertmanager",
        "prometheus",
    ]
    assert started[1].proc.returncode not in (None, 0)  # the one that found its port taken
    assert f":{taken_port}" not in str(published["alertmanager"])
    rules = yaml.safe_load((tmp_path / "sandbox" / "monitoring" / "rules" / "slo.yml").read_text())
    objective = next(
        r for g in rules["groups"] for r in g["rules"] if r.get("record") == "chaosdrill:slo_objective:ratio"
    )
    assert objective["expr"] == "vector(0.999)"
    assert all(c.proc.returncode is not None for c in started)
