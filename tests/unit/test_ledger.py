from pathlib import Path
from typing import Any

import pytest

from chaosdrill import runctx
from chaosdrill.drivers.target import Target
from chaosdrill.faults import engine, registry
from chaosdrill.ledger import Fault, Ledger

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def fault(key: str = "k", run_id: str | None = "r1") -> Fault:
    return Fault(kind="latency", target="sandbox", key=key, description="d", undo={"x": 1}, run_id=run_id)


def test_record_then_revert(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.jsonl")
    a, b = led.record(fault("a")), led.record(fault("b"))
    assert [f.key for f in led.replay()] == ["a", "b"]
    led.mark_reverted(a.id)
    assert [f.key for f in led.replay()] == ["b"]
    hist = {r.fault.key: r for r in led.history()}
    assert hist["a"].reverted_at is not None and hist["a"].how == "rollback"
    assert hist["b"].reverted_at is None
    assert led.active(key="b")[0].id == b.id
    assert led.active(run_id="other") == []


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    led = Ledger(path)
    led.record(fault("a"))
    with open(path, "a") as fh:
        fh.write('{"op": "inject", "id": "half')
    assert [f.key for f in Ledger(path).replay()] == ["a"]


def test_inject_reverts_when_apply_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    led = Ledger(tmp_path / "l.jsonl")
    reverted: list[dict[str, Any]] = []
    monkeypatch.setattr(engine, "revert", lambda f, _drivers=None: reverted.append(f.undo))

    def boom() -> None:
        assert len(led.replay()) == 1, "the fault must be on disk before it is applied"
        raise RuntimeError("injection failed")

    with pytest.raises(RuntimeError):
        engine.record_and_apply(fault(), boom, ledger=led)
    assert reverted == [{"x": 1}]
    assert led.replay() == []
    assert led.history()[0].how == "injection-failed"


def test_rollback_closes_matching_entries_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    led = Ledger(tmp_path / "l.jsonl")
    monkeypatch.setattr(engine, "revert", lambda f, _drivers=None: None)
    led.record(fault("a"))
    led.record(fault("a"))
    led.record(fault("b"))
    assert engine.rollback("latency", "sandbox", "a", ledger=led) == 2
    assert [f.key for f in led.replay()] == ["b"]


def test_fault_reverted_while_being_applied_is_reverted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guardrail sweep reverts the fault halfway through its apply; the rest of the
    apply lands after that revert, and inject must undo it once apply returns."""
    led = Ledger(tmp_path / "l.jsonl")
    disabled: set[str] = set()
    proxies = [f"p{i}" for i in range(6)]
    monkeypatch.setattr(engine, "revert", lambda f, _drivers=None: disabled.clear())

    def apply() -> None:
        for i, proxy in enumerate(proxies):
            disabled.add(proxy)
            if i == 2:  # the concurrent sweep, as the guardrail thread would run it
                (active,) = led.active()
                engine.revert(active)
                led.mark_reverted(active.id, how="guardrail")

    engine.record_and_apply(fault(), apply, ledger=led)
    assert disabled == set()
    assert led.replay() == []
    assert led.history()[0].how == "guardrail"


def test_fault_not_reverted_meanwhile_stays_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    led = Ledger(tmp_path / "l.jsonl")
    calls: list[str] = []
    monkeypatch.setattr(engine, "revert", lambda f, _drivers=None: calls.append(f.key))
    engine.record_and_apply(fault(), lambda: None, ledger=led)
    assert calls == [] and len(led.replay()) == 1


def test_each_run_gets_its_own_id_even_if_one_leaked_into_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chaosdrill.controls import ledger as ledger_control

    monkeypatch.setenv(runctx.RUN_ID_ENV, "leaked-from-a-parent")
    ledger_control.configure_control()
    first = runctx.run_id()
    ledger_control.configure_control()
    assert first not in (None, "leaked-from-a-parent")
    assert runctx.run_id() != first


LEGACY = Path(__file__).parent / "data" / "ledger-v1.jsonl"


def test_a_ledger_written_before_the_fault_registry_still_replays() -> None:
    """``data/ledger-v1.jsonl`` was written by the drivers as they were before faults got one
    home (every sandbox fault injected for real, the Kubernetes and load records built as
    their drivers built them). Any new ledger format must keep reading it: ``recover`` on a
    machine upgraded mid-drill depends on it."""
    history = Ledger(LEGACY).history()
    kinds = {(r.fault.kind, r.fault.target) for r in history}
    assert kinds == {
        ("latency", "sandbox"),
        ("blackhole", "sandbox"),
        ("zone_partition", "sandbox"),
        ("bandwidth", "sandbox"),
        ("reset_peer", "sandbox"),
        ("link_cut", "sandbox"),
        ("defences_off", "sandbox"),
        ("pod_kill", "sandbox"),
        ("zone_outage", "sandbox"),
        ("dc_failover", "sandbox"),
        ("pod_kill", "kubernetes"),
        ("zone_outage", "kubernetes"),
        ("zone_partition", "kubernetes"),
        ("dc_failover", "kubernetes"),
        ("surge", "kubernetes"),
        ("surge", "sandbox"),
    }
    # Every legacy record names a kind the registry knows, and keeps its undo state without "op".
    for record in history:
        kind = registry.lookup(record.fault.kind, Target(record.fault.target))
        assert kind.name == record.fault.kind
        assert "op" not in record.fault.undo
    toxic = next(r.fault for r in history if r.fault.kind == "latency")
    assert set(toxic.undo) == {"api", "instance", "proxies", "toxic"}
    outage = next(r.fault for r in history if (r.fault.kind, r.fault.target) == ("zone_outage", "kubernetes"))
    assert set(outage.undo) == {"kube_context", "kubeconfig", "nodes", "zone"}
    # The kill closed its own entry; everything else was still active when the file was copied.
    assert [(f.kind, f.target) for f in Ledger(LEGACY).replay()].count(("pod_kill", "sandbox")) == 0
    assert len(Ledger(LEGACY).replay()) == len(history) - 1
