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
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from chaos_run_support import (
    LEDGER_CONTROL,
    Run,
    action,
    journal_of,
    load_control,
    mark_step,
    py,
    reach_phase,
    recover,
    send,
    signal_cases,
    start,
    wait_until,
)

from chaosdrill import procs
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.ledger import FaultRecord, default_ledger
from chaosdrill.sandbox import lifecycle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# Every sandbox fault type, on links/pools/DCs that do not overlap (a latency check through
# a blackholed link would hang).
INJECT = [
    action("latency", py("actions.latency", "add_latency", latency_ms=200, dc="dc2", az="az-a")),
    action("blackhole", py("actions.network", "add_blackhole", dc="dc3", az="az-b", link="replicas")),
    action("disable-redis", py("actions.network", "disable_links", dc="dc1", az="*", link="redis")),
    action("defences-off", py("actions.defences", "disable_defences", dc="dc1", breaker=True, fallback=True)),
    action("surge", py("actions.traffic", "surge", factor=2.0)),
    action("kill-replica", py("actions.pods", "kill_pods", selector="dc=dc2,az=az-b", count=1)),
    action("zone-outage", py("actions.zones", "zone_outage", zone="dc1-az-b")),
    action("dc-outage", py("actions.datacenters", "dc_failover", dc="dc3")),
]
REMOVE = [
    action("remove-latency", py("actions.latency", "remove_latency", dc="dc2", az="az-a")),
    action(
        "remove-blackhole", py("actions.network", "remove_blackhole", dc="dc3", az="az-b", link="replicas")
    ),
    action("enable-redis", py("actions.network", "enable_links", dc="dc1", az="*", link="redis")),
    action("restore-defences", py("actions.defences", "restore_defences", dc="dc1")),
    action("end-surge", py("actions.traffic", "end_surge")),
    action("zone-back", py("actions.zones", "zone_outage_rollback", zone="dc1-az-b")),
    action("dc-back", py("actions.datacenters", "dc_failover_rollback", dc="dc3")),
]
FAULT_KINDS = {
    "latency",
    "blackhole",
    "link_cut",
    "defences_off",
    "surge",
    "pod_kill",
    "zone_outage",
    "dc_failover",
}


def experiment(method_pause_s: float, rollback_sleep_s: float) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "signal drill",
        "description": "every fault type, a pause, a slow rollback",
        "configuration": {"chaosdrill_target": "sandbox"},
        "extensions": [{"name": "chaosdrill", "expect": {"status": "interrupted"}}],
        "controls": [
            LEDGER_CONTROL,
            load_control(
                warmup_s=1.5,
                max_duration_s=120,
                profile={"streams": [{"name": "chat", "tenant": "acme", "rate": 20, "users": 50}]},
            ),
        ],
        "steady-state-hypothesis": {
            "title": "trivially true",
            "probes": [
                {
                    "type": "probe",
                    "name": "ok",
                    "tolerance": True,
                    "provider": mark_step("hypothesis"),
                }
            ],
        },
        "method": [
            *INJECT,
            action("in-method", mark_step("method"), pauses={"after": method_pause_s}),
        ],
        "rollbacks": [
            action("slow-first", mark_step("rollback", rollback_sleep_s)),
            *REMOVE,
        ],
    }


def reach(run: Run, phase: str) -> None:
    if phase == "warmup":
        wait_until(lambda: (run.run_dir / "load.json").exists(), 30, "the load worker to start", run)
        time.sleep(0.2)
    else:
        reach_phase(run, phase)


def load_pid(run: Run) -> int | None:
    try:
        return int(json.loads((run.run_dir / "load.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


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


@signal_cases("warmup", "method", "rollback")
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
            assert {f.kind for f in active} >= {"latency", "blackhole", "link_cut", "defences_off"}
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
            assert hows["pod_kill"] == "instant", hows  # a kill closes its own entry once verified
        assert ledger.active(run_id=journal["chaosdrill"]["run_id"]) == []
    if phase != "warmup":
        assert {"latency", "blackhole", "link_cut", "defences_off", "surge"} <= injected_before_signal
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
faults = [ledger.record(Fault(kind="surge", target="sandbox", key=f"sweep-{i}", description="t", undo={})) for i in range(4)]
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
