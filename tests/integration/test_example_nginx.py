"""The worked example of a service nobody on the team wrote (examples/nginx-httpbin): nginx over
two httpbin servers behind toxiproxy, with its own exporter and Prometheus, drilled through the
system file its launcher writes, with the real ``chaos run``.

One module-scoped example serves every test; the last test takes it down and proves that no
process of it is left, and the fixture's teardown does the same for a run that failed earlier.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_run_support import Finished, chaos_run

from chaosdrill import cli, procs
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.expectation import Status, expectation_of, outcome_of
from chaosdrill.ledger import Ledger
from chaosdrill.system import load_system

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nginx-httpbin"
LATENCY = EXAMPLE / "experiments" / "upstream-latency.yaml"
NEGATIVE = EXAMPLE / "experiments" / "negative-control.yaml"
RUN_TIMEOUT_S = 90


@dataclass
class Example:
    home: Path  # the example's own home: configs, logs, state.json, system.yaml
    chaosdrill_home: Path  # the drills' ledger and runs
    system: Path
    state: dict[str, Any]
    runs: dict[str, Finished]

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CHAOSDRILL_HOME": str(self.chaosdrill_home),
            "CHAOSDRILL_SYSTEM": str(self.system),
        }
        for inherited in ("CHAOSDRILL_RUN_ID", "CHAOSDRILL_RUN_DIR"):
            env.pop(inherited, None)
        return env

    def pgids(self) -> list[int]:
        return [int(p["pgid"]) for p in self.state["processes"]]

    def pids(self) -> list[int]:
        return [int(p["pid"]) for p in self.state["processes"]]

    def leftovers(self) -> dict[int, list[int]]:
        """Live processes of the example's groups, by group (zombies count as gone)."""
        found = {pgid: procs.group_members(pgid) for pgid in self.pgids()}
        found.update({pid: [pid] for pid in self.pids() if procs.alive(pid)})
        return {g: m for g, m in found.items() if m}


def _example_py(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "example.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    root = tmp_path_factory.mktemp("nginx-httpbin")
    home = root / "example"
    up = _example_py("up", "--home", str(home))
    state_file = home / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"processes": []}
    ex = Example(home, root / "chaosdrill-home", home / "system.yaml", state, {})
    try:
        assert up.returncode == 0, f"example.py up failed:\n{up.stdout}\n{up.stderr}"
        assert "ready" in state["info"], state
        yield ex
    finally:
        down = _example_py("down", "--home", str(home))
        assert down.returncode == 0, down.stdout + down.stderr
        assert ex.leftovers() == {}, f"processes of the example outlived `down`: {ex.leftovers()}"


def _run(example: Example, experiment: Path, tmp_path: Path) -> Finished:
    finished = chaos_run(experiment, tmp_path, example.env(), timeout_s=RUN_TIMEOUT_S)
    example.runs[experiment.stem] = finished
    return finished


def _probes(journal: dict[str, Any], phase: str) -> dict[str, dict[str, Any]]:
    return {p["activity"]["name"]: p for p in journal["steady_states"][phase]["probes"]}


def _method(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["activity"]["name"]: r for r in journal["run"]}


def _nothing_left_active(example: Example, finished: Finished) -> None:
    """The run's faults are all reverted in the ledger, and no toxic is left on any proxy."""
    run_id = finished.journal["chaosdrill"]["run_id"]
    ledger = Ledger(example.chaosdrill_home / "ledger.jsonl")
    records = ledger.of_run(run_id)
    assert records, "the run recorded no fault"
    assert ledger.active() == []
    assert all(r.reverted_at is not None for r in records), [r.to_dict() for r in records]
    [server] = load_system(example.system).toxiproxy
    toxics = {name: p.toxics for name, p in ToxiproxyClient(server.api).proxies().items()}
    assert toxics == {"upstream-a": (), "upstream-b": ()}


def test_up_writes_a_valid_system_file_of_the_running_example(
    example: Example, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = load_system(example.system)
    info = example.state["info"]
    assert system.endpoints["base_url"] == info["nginx"]
    assert system.endpoints["requests"]["default"]["method"] == "GET"
    assert system.prometheus is not None and system.prometheus["url"] == info["prometheus"]
    [server] = system.toxiproxy
    assert server.api == info["toxiproxy"]
    assert {(lm.dc, lm.az, lm.link, lm.proxies) for lm in server.links} == {
        ("dc1", "a", "upstream", ("upstream-a",)),
        ("dc1", "b", "upstream", ("upstream-b",)),
    }
    proxies = ToxiproxyClient(server.api).proxies()
    assert {name: p.listen for name, p in proxies.items()} == info["proxies"]
    monkeypatch.setenv("CHAOSDRILL_SYSTEM", str(example.system))
    assert cli.main(["validate", str(example.system), str(LATENCY), str(NEGATIVE)]) == 0


def test_one_slow_upstream_moves_traffic_and_the_slo_holds(example: Example, tmp_path: Path) -> None:
    finished = _run(example, LATENCY, tmp_path)
    journal = finished.journal
    expected = expectation_of(yaml.safe_load(LATENCY.read_text()), str(LATENCY)).status
    assert expected is Status.COMPLETED
    assert outcome_of(journal) is expected, finished.log
    assert finished.proc.returncode == 0, finished.log
    for phase in ("before", "after"):
        probes = _probes(journal, phase)
        assert set(probes) == {
            "availability-at-least-99",
            "p95-of-the-run-under-150ms",
            "nginx-up-by-its-exporter",
        }
        assert all(p["status"] == "succeeded" and p["tolerance_met"] for p in probes.values()), probes
    method = _method(journal)
    assert all(r["status"] == "succeeded" for r in method.values()), finished.log
    # While a was slow, least_conn sent nearly everything to b (the load counts X-Served-By).
    during = method["traffic-while-a-was-slow"]["output"]
    assert during["error"] == 0 and during["completed"] > 100, during
    assert during["served_by"].get("b", 0) >= 0.8 * during["completed"], during
    _nothing_left_active(example, finished)


def test_the_negative_control_deviates_on_the_latency_slo(example: Example, tmp_path: Path) -> None:
    finished = _run(example, NEGATIVE, tmp_path)
    journal = finished.journal
    expected = expectation_of(yaml.safe_load(NEGATIVE.read_text()), str(NEGATIVE)).status
    assert expected is Status.DEVIATED
    assert outcome_of(journal) is expected, finished.log
    # The fault was injected and felt (the latency action verifies it), then removed...
    method = _method(journal)
    assert all(r["status"] == "succeeded" for r in method.values()), finished.log
    during = method["traffic-while-both-were-slow"]["output"]
    assert during["p50_s"] >= 0.9, during  # both upstreams slow: every answer waited ~1 s
    # ...the setup was sound before it, and only the latency SLO failed after it.
    assert all(p["tolerance_met"] for p in _probes(journal, "before").values())
    after = _probes(journal, "after")
    failed = [name for name, p in after.items() if not p["tolerance_met"]]
    assert failed == ["p95-of-the-run-under-150ms"], after
    assert "above the bound 150 ms" in json.dumps(after[failed[0]].get("exception")), after[failed[0]]
    _nothing_left_active(example, finished)


def test_down_stops_every_process_of_the_example(example: Example) -> None:
    assert example.leftovers(), "the example should be running before `down`"
    down = _example_py("down", "--home", str(example.home))
    assert down.returncode == 0, down.stdout + down.stderr
    assert example.leftovers() == {}
    assert not (example.home / "state.json").exists()
    status = _example_py("status", "--home", str(example.home))
    assert status.returncode == 3, status.stdout + status.stderr
