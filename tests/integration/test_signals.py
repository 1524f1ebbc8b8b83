"""Rollbacks on every exit path: SIGINT, SIGTERM and SIGKILL at each phase of a real ``chaos run``.

Each run is a purpose-built experiment written into tmp: the ledger and load controls, a
trivial hypothesis, a method that injects every sandbox fault type (latency toxic, blackhole,
disabled links, defences off, a load surge, a replica kill, a zone outage, a DC outage) and pauses, and rollbacks whose
first step is slow. A helper module (also in tmp, on PYTHONPATH) writes phase markers, so
the test signals at a known moment:

- ``warmup``: the load worker is up and the load control is still in its warm-up;
- ``method``: every fault is in place and the method is pausing;
- ``rollback``: chaos is inside its (slow) first rollback.

After SIGINT/SIGTERM the run itself must leave nothing behind; after SIGKILL the real
``chaosdrill recover`` must, and a second ``recover`` must find nothing. Either way:
toxiproxy holds no toxic, every proxy is enabled, every gateway has its defences on,
every pool has its replicas, and the load worker is gone.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from chaosdrill import procs
from chaosdrill.ledger import FaultRecord, default_ledger
from chaosdrill.sandbox import lifecycle
from chaosdrill.targets.toxiproxy import ToxiproxyClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CHAOS = str(Path(sys.executable).parent / "chaos")
HELPERS = '''
"""Test helpers for signal drills: phase markers and a slow step."""
import os
import time
from pathlib import Path


def mark(phase: str = "", seconds: float = 0.0) -> bool:
    """Append ``phase`` to the marker file, then sleep ``seconds``."""
    with Path(os.environ["SIGTEST_MARKS"]).open("a") as fh:
        fh.write(phase + "\\n")
    time.sleep(seconds)
    return True
'''


def _py(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def _action(name: str, provider: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "action", "name": name, "provider": provider, **extra}


# Every sandbox fault type, on links/pools/DCs that do not overlap (a latency check through
# a blackholed link would hang).
INJECT = [
    _action("latency", _py("actions.latency", "add_latency", latency_ms=200, dc="dc2", az="az-a")),
    _action("blackhole", _py("actions.network", "add_blackhole", dc="dc3", az="az-b", link="replicas")),
    _action("disable-redis", _py("actions.network", "disable_links", dc="dc1", az="*", link="redis")),
    _action(
        "defences-off", _py("actions.defences", "disable_defences", dc="dc1", breaker=True, fallback=True)
    ),
    _action("surge", _py("actions.traffic", "surge", factor=2.0)),
    _action("kill-replica", _py("actions.pods", "kill_pods", selector="dc=dc2,az=az-b", count=1)),
    _action("zone-outage", _py("actions.zones", "zone_outage", zone="dc1-az-b")),
    _action("dc-outage", _py("actions.datacenters", "dc_failover", dc="dc3")),
]
REMOVE = [
    _action("remove-latency", _py("actions.latency", "remove_latency", dc="dc2", az="az-a")),
    _action(
        "remove-blackhole", _py("actions.network", "remove_blackhole", dc="dc3", az="az-b", link="replicas")
    ),
    _action("enable-redis", _py("actions.network", "enable_links", dc="dc1", az="*", link="redis")),
    _action("restore-defences", _py("actions.defences", "restore_defences", dc="dc1")),
    _action("end-surge", _py("actions.traffic", "end_surge")),
    _action("zone-back", _py("actions.zones", "zone_outage_rollback", zone="dc1-az-b")),
    _action("dc-back", _py("actions.datacenters", "dc_failover_rollback", dc="dc3")),
]
FAULT_KINDS = {"latency", "timeout", "disable", "defences", "surge", "kill", "zone_outage", "dc_outage"}


def experiment(method_pause_s: float, rollback_sleep_s: float) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "signal drill",
        "description": "every fault type, a pause, a slow rollback",
        "configuration": {"chaosdrill_target": "sandbox"},
        "extensions": [{"name": "chaosdrill", "expect": {"status": "interrupted"}}],
        "controls": [
            {
                "name": "chaosdrill-ledger",
                "provider": {"type": "python", "module": "chaosdrill.controls.ledger"},
            },
            {
                "name": "chaosdrill-load",
                "provider": {
                    "type": "python",
                    "module": "chaosdrill.controls.load",
                    "arguments": {
                        "warmup_s": 1.5,
                        "max_duration_s": 120,
                        "profile": {"streams": [{"name": "chat", "tenant": "acme", "rate": 20, "users": 50}]},
                    },
                },
            },
        ],
        "steady-state-hypothesis": {
            "title": "trivially true",
            "probes": [
                {
                    "type": "probe",
                    "name": "ok",
                    "tolerance": True,
                    "provider": _py("sigtest_helpers", "mark", phase="hypothesis"),
                }
            ],
        },
        "method": [
            *INJECT,
            _action(
                "in-method", _py("sigtest_helpers", "mark", phase="method"), pauses={"after": method_pause_s}
            ),
        ],
        "rollbacks": [
            _action("slow-first", _py("sigtest_helpers", "mark", phase="rollback", seconds=rollback_sleep_s)),
            *REMOVE,
        ],
    }


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    tmp: Path
    marks: Path
    run_dir: Path
    journal: Path

    def phases(self) -> list[str]:
        return self.marks.read_text().split() if self.marks.exists() else []

    def output(self) -> str:
        return (self.tmp / "chaos.out").read_text(errors="replace")[-4000:]


def start(tmp: Path, doc: dict[str, Any], *extra: str) -> Run:
    (tmp / "sigtest_helpers.py").write_text(textwrap.dedent(HELPERS))
    path = tmp / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = Run(None, tmp, tmp / "marks", tmp / "run", tmp / "journal.json")  # type: ignore[arg-type]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")]),
        "SIGTEST_MARKS": str(run.marks),
        "CHAOSDRILL_RUN_DIR": str(run.run_dir),
    }
    with (tmp / "chaos.out").open("wb") as out:
        run.proc = subprocess.Popen(
            [CHAOS, "--no-version-check", "run", *extra, "--journal-path", str(run.journal), str(path)],
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a "Ctrl-C" reaches chaos and its load worker only
        )
    return run


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if run is not None and run.proc.poll() is not None:
            pytest.fail(f"chaos exited ({run.proc.returncode}) before {what}:\n{run.output()}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}" + (f":\n{run.output()}" if run else ""))


def reach(run: Run, phase: str) -> None:
    if phase == "warmup":
        wait_until(lambda: (run.run_dir / "load.json").exists(), 30, "the load worker to start", run)
    else:
        wait_until(lambda: phase in run.phases(), 60, f"phase {phase!r}", run)
    time.sleep(0.2)  # well inside the pause / the slow step


def send(run: Run, sig: signal.Signals) -> None:
    if sig is signal.SIGINT:
        os.killpg(run.proc.pid, sig)  # what Ctrl-C in a terminal does
    else:
        os.kill(run.proc.pid, sig)  # what `kill` does


def load_pid(run: Run) -> int | None:
    try:
        return int(json.loads((run.run_dir / "load.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def recover(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", "recover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_faults(run_id: str) -> list[FaultRecord]:
    return default_ledger().of_run(run_id)


def assert_clean(sandbox: dict[str, Any], run: Run) -> None:
    client = ToxiproxyClient(sandbox["toxiproxy"]["api"])
    proxies = client.proxies()
    assert {n: p.toxics for n, p in proxies.items() if p.toxics} == {}
    assert [n for n, p in proxies.items() if not p.enabled] == []
    state = lifecycle.require_state()  # a DC outage's revert restarts a gateway on a new port
    assert all(info.get("gateway") for info in state["dcs"].values()), "every DC's gateway is back"
    assert not [f"{dc}/{az}" for dc, i in state["dcs"].items() for az, p in i["azs"].items() if p["held"]]
    for dc, info in state["dcs"].items():
        defences = requests.get(f"{info['gateway']['url']}/admin/state", timeout=5).json()["defences"]
        assert all(defences.values()), (dc, defences)
    wait_until(
        lambda: all(n == 2 for n in lifecycle.status()["replicas"].values()), 20, "replicas to be restored"
    )
    pid = load_pid(run)
    if pid is not None:
        wait_until(lambda: not procs.alive(pid), 10, f"load worker {pid} to exit")


def journal_of(run: Run) -> dict[str, Any]:
    assert run.journal.exists(), run.output()
    doc: dict[str, Any] = json.loads(run.journal.read_text())
    return doc


CASES = [
    (sig, phase)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    for phase in ("warmup", "method", "rollback")
]


@pytest.mark.parametrize(("sig", "phase"), CASES, ids=[f"{s.name}-{p}" for s, p in CASES])
def test_signal_at_phase_leaves_nothing_behind(
    sandbox: dict[str, Any], tmp_path: Path, sig: signal.Signals, phase: str
) -> None:
    run = start(tmp_path, experiment(method_pause_s=0.5 if phase == "rollback" else 30, rollback_sleep_s=30))
    try:
        reach(run, phase)
        injected_before_signal = {
            r.fault.kind for r in default_ledger().history() if r.fault.pid == run.proc.pid
        }
        send(run, sig)
        run.proc.wait(timeout=60)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    ledger = default_ledger()
    if sig is signal.SIGKILL:
        assert not run.journal.exists()
        active = [f for f in ledger.replay() if f.pid == run.proc.pid]
        if phase != "warmup":
            # kill -9 left the faults (the kill of a replica reverts itself, a surge dies with its worker)
            assert {f.kind for f in active} >= {"latency", "timeout", "disable", "defences"}
        first = recover()
        assert first.returncode == 0, first.stdout + first.stderr
        assert ledger.active() == []
        second = recover()
        assert second.returncode == 0 and "no active faults" in second.stdout, second.stdout
        assert "reverting" not in second.stdout
    else:
        journal = journal_of(run)
        # SIGTERM inside a rollback action only fails that action (chaoslib catches it there)
        # and chaos plays the remaining rollbacks; every other case interrupts the run.
        rollbacks_go_on = sig is signal.SIGTERM and phase == "rollback"
        assert journal["status"] == ("completed" if rollbacks_go_on else "interrupted"), run.output()
        records = run_faults(journal["chaosdrill"]["run_id"])
        if phase == "warmup":
            assert records == [] and "method" not in run.phases()
        else:
            assert {r.fault.kind for r in records} == FAULT_KINDS
            assert all(r.reverted_at is not None for r in records), [r.to_dict() for r in records]
            # chaos skips rollbacks on an interrupted run (and abandons them mid-way): the ledger sweep did it.
            hows = {r.fault.kind: r.how for r in records}
            assert hows["latency"] == ("rollback" if rollbacks_go_on else "end-of-run"), hows
            assert hows["kill"] == "rollback", hows
        assert ledger.active(run_id=journal["chaosdrill"]["run_id"]) == []
    if phase != "warmup":
        assert {"latency", "timeout", "disable", "defences", "surge"} <= injected_before_signal
    assert_clean(sandbox, run)


def test_second_sigint_during_rollbacks_does_not_abandon_them(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    """As a drill runs it (rollbacks always): Ctrl-C mid-method starts the rollbacks; a second
    Ctrl-C during the slow first rollback makes chaos abandon the rest, and the ledger sweep
    must still revert every fault."""
    run = start(tmp_path, experiment(method_pause_s=30, rollback_sleep_s=30), "--rollback-strategy", "always")
    try:
        reach(run, "method")
        send(run, signal.SIGINT)
        reach(run, "rollback")
        send(run, signal.SIGINT)
        run.proc.wait(timeout=60)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    journal = journal_of(run)
    assert journal["status"] == "interrupted"
    # chaos really did abandon the rollbacks after the slow one...
    played = [r["activity"]["name"] for r in journal.get("rollbacks", [])]
    assert played[:1] == ["slow-first"] and "remove-latency" not in played, played
    # ...and yet nothing is left.
    records = run_faults(journal["chaosdrill"]["run_id"])
    assert {r.fault.kind for r in records} == FAULT_KINDS
    assert all(r.reverted_at is not None for r in records)
    assert_clean(sandbox, run)


SWEEP = """
import os, sys, time
import chaosdrill.recovery as recovery
from chaosdrill.ledger import Fault, default_ledger

def slow_revert(fault):
    print("reverting", fault.key, flush=True)
    time.sleep(0.6)

recovery.revert = slow_revert
ledger = default_ledger()
faults = [ledger.record(Fault(driver="load", kind="surge", key=f"sweep-{i}", description="t", revert={})) for i in range(4)]
try:
    recovery.revert_faults(faults, how="sweep-test")
except KeyboardInterrupt:
    print("interrupted after the sweep", flush=True)
    sys.exit(130)
print("not interrupted", flush=True)
"""


def test_signals_during_the_sweep_are_deferred_until_it_is_done(tmp_path: Path) -> None:
    """The sweep itself (``revert_faults``) holds SIGINT/SIGTERM: every fault is reverted, then the signal acts."""
    env = {**os.environ, "CHAOSDRILL_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SWEEP], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("reverting")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert out.count("reverting") == 3 and "interrupted after the sweep" in out, out + err
    assert proc.returncode == 130
    history = default_ledger_at(tmp_path)
    assert len(history) == 4 and all(r.how == "sweep-test" for r in history)


def default_ledger_at(home: Path) -> list[FaultRecord]:
    from chaosdrill.ledger import Ledger

    return Ledger(home / "ledger.jsonl").history()
