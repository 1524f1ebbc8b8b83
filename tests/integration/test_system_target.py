"""Link faults on any system: the sandbox's own system file drives the same toxic kinds through
the system driver, with the ledger, verification and recover guarantees of the sandbox path."""

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions import latency, network
from chaosdrill import cli, faults
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import ActivityFailed
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox import system_file
from chaosdrill.system import load_system

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _conf(path: Path) -> dict[str, Any]:
    return {"chaosdrill_target": "system", "chaosdrill_system": str(path)}


def _toxics(api: str, toxic: str) -> list[str]:
    return sorted(
        n for n, p in ToxiproxyClient(api).proxies().items() if any(t.get("name") == toxic for t in p.toxics)
    )


def test_sandbox_up_writes_a_valid_system_file_of_itself(sandbox: dict[str, Any]) -> None:
    system = load_system(system_file.system_file())
    assert system.endpoints["base_url"] == sandbox["edge"]["url"]
    [server] = system.toxiproxy
    assert server.api == sandbox["toxiproxy"]["api"]
    az_links = {(lm.dc, lm.az) for lm in server.links if lm.link == "replicas"}
    assert az_links == {(dc, az) for dc, info in sandbox["dcs"].items() for az in info["azs"]}
    assert (
        system.prometheus is not None
        and system.prometheus["url"] == sandbox["monitoring"]["prometheus"]["url"]
    )
    assert set(system.mechanisms) >= {"breaker_open", "fallback_served", "rate_limited", "dc_healthy"}


def test_latency_through_the_system_file_is_recorded_felt_and_removed(sandbox: dict[str, Any]) -> None:
    conf = _conf(system_file.system_file())
    api = sandbox["toxiproxy"]["api"]
    started = time.perf_counter()
    out = latency.add_latency(300, dc="dc2", az="az-b", configuration=conf)
    try:
        assert time.perf_counter() - started >= 0.24, "the latency must have been felt through a health URL"
        expected = sorted(s["proxy"] for s in sandbox["dcs"]["dc2"]["azs"]["az-b"]["slots"])
        assert _toxics(api, "chaosdrill-latency") == expected == sorted(out["proxies"])
        [fault] = default_ledger().active(kind="latency")
        assert fault.target == "system" and fault.id == out["fault_id"]
        assert "instance" not in fault.undo and sorted(fault.undo["servers"][api]) == expected
    finally:
        closed = latency.remove_latency(dc="dc2", az="az-b", configuration=conf)
    assert closed["ledger_entries_closed"] == 1
    assert _toxics(api, "chaosdrill-latency") == []


def test_a_system_fault_is_reverted_from_the_ledger_alone(sandbox: dict[str, Any]) -> None:
    conf = _conf(system_file.system_file())
    api = sandbox["toxiproxy"]["api"]
    network.add_blackhole(dc="dc1", az="az-a", configuration=conf)
    assert _toxics(api, "chaosdrill-blackhole")
    [fault] = default_ledger().active(kind="blackhole")
    faults.revert(fault)
    faults.revert(fault)  # idempotent
    default_ledger().mark_reverted(fault.id, how="test")
    assert _toxics(api, "chaosdrill-blackhole") == []


def test_recover_reverts_a_system_fault_left_behind(
    sandbox: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _conf(system_file.system_file())
    api = sandbox["toxiproxy"]["api"]
    network.disable_links(dc="dc3", link="redis", configuration=conf)
    assert not ToxiproxyClient(api).proxies()[sandbox["dcs"]["dc3"]["redis"]["proxy"]].enabled
    assert cli.main(["recover"]) == 0
    assert "[system link_cut]" in capsys.readouterr().out
    assert ToxiproxyClient(api).proxies()[sandbox["dcs"]["dc3"]["redis"]["proxy"]].enabled
    assert default_ledger().active() == []


def test_a_link_that_matches_nothing_lists_what_exists_and_injects_nothing(sandbox: dict[str, Any]) -> None:
    conf = _conf(system_file.system_file())
    before = len(default_ledger().history())
    with pytest.raises(
        ActivityFailed, match=r"matches dc='dc9'.*the proxies that exist: .*dc1-az-a-replicas-0"
    ):
        latency.add_latency(100, dc="dc9", configuration=conf)
    assert len(default_ledger().history()) == before


def test_an_unreachable_toxiproxy_is_named_and_nothing_is_injected(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc = yaml.safe_load(system_file.system_file().read_text())
    doc["toxiproxy"][0]["api"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    before = len(default_ledger().history())
    with pytest.raises(ActivityFailed, match=f"toxiproxy at http://127.0.0.1:{port}"):
        latency.add_latency(100, dc="dc1", configuration=_conf(path))
    assert len(default_ledger().history()) == before
