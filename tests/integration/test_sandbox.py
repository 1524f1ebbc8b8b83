"""The sandbox as real processes: topology, routing, defences, metrics, faults through
the driver, and the promise that `down` leaves nothing behind."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from actions import datacenters, defences, latency, network, pods, zones
from chaosdrill import procs
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import ActivityFailed, BadInput
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox import lifecycle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def call(url: str, user: str, tenant: str = "t1", priority: str = "interactive") -> requests.Response:
    return requests.post(
        f"{url}/v1/generate",
        json={"prompt": "hello", "max_tokens": 8},
        headers={"X-User": user, "X-Tenant": tenant, "X-Priority": priority},
        timeout=10,
    )


def settle_breakers(gw: str, timeout_s: float = 20.0) -> None:
    """Drive a gateway's breakers back to closed: an open breaker only half-opens, and
    closes, as requests arrive. Earlier tests trip them on purpose."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = {
            b["state"] for b in requests.get(f"{gw}/admin/state", timeout=5).json()["breakers"].values()
        }
        if states == {"closed"}:
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: call(gw, f"s{i}", f"settle{i}"), range(8)))
        time.sleep(0.2)
    pytest.fail(f"the breakers of {gw} did not close within {timeout_s:g}s: {states}")


def all_toxics(state: dict[str, Any]) -> dict[str, list[Any]]:
    client = ToxiproxyClient(state["toxiproxy"]["api"])
    return {name: list(p.toxics) for name, p in client.proxies().items() if p.toxics}


def test_topology_is_three_dcs_two_azs_two_replicas(sandbox: dict[str, Any]) -> None:
    st = lifecycle.status()
    assert st["up"]
    assert sorted(st["replicas"]) == [f"dc{d}/az-{a}" for d in (1, 2, 3) for a in "ab"]
    assert all(n == 2 for n in st["replicas"].values())
    proxies = ToxiproxyClient(sandbox["toxiproxy"]["api"]).proxies()
    assert {"dc1-redis", "dc2-redis", "dc3-redis", "dc1-az-a-replicas-0"} <= set(proxies)


def test_edge_routes_users_to_stable_cells(sandbox: dict[str, Any]) -> None:
    edge = sandbox["edge"]["url"]
    seen = {}
    for i in range(30):
        r = call(edge, f"user-{i}")
        assert r.status_code == 200, r.text
        seen[f"user-{i}"] = r.headers["X-Chaosdrill-DC"]
    assert set(seen.values()) == {"dc1", "dc2", "dc3"}
    again = {u: call(edge, u).headers["X-Chaosdrill-DC"] for u in list(seen)[:10]}
    assert again == {u: seen[u] for u in again}


def test_every_component_serves_metrics(sandbox: dict[str, Any]) -> None:
    urls = [sandbox["edge"]["url"], sandbox["autoscaler"]["url"], sandbox["supervisor"]["api"]]
    urls += [info["gateway"]["url"] for info in sandbox["dcs"].values()]
    state = lifecycle.require_state()
    urls += [
        f"http://127.0.0.1:{slot['replica']['port']}"
        for info in state["dcs"].values()
        for pool in info["azs"].values()
        for slot in pool["slots"]
        if slot.get("replica")
    ]
    for url in urls:
        body = requests.get(f"{url}/metrics", timeout=5).text
        assert "# HELP" in body, url
    gw = requests.get(f"{sandbox['dcs']['dc1']['gateway']['url']}/metrics", timeout=5).text
    assert "gateway_breaker_state" in gw and "gateway_requests_total" in gw


def test_rate_limit_answers_429_with_retry_after_never_5xx(sandbox: dict[str, Any]) -> None:
    gw = sandbox["dcs"]["dc2"]["gateway"]["url"]
    with ThreadPoolExecutor(max_workers=60) as pool:  # ~100 ms per answer: be concurrent to exceed 40/s
        codes = list(pool.map(lambda i: call(gw, f"u{i}", tenant="burst"), range(120)))
    limited = [r for r in codes if r.status_code == 429]
    assert limited, "the burst tenant (40 req/s, burst 30) must be limited"
    assert all(r.headers.get("Retry-After", "").isdigit() for r in limited)
    assert not [r for r in codes if r.status_code >= 500]


def test_unknown_link_raises_and_injects_nothing(sandbox: dict[str, Any]) -> None:
    before = len(default_ledger().history())
    with pytest.raises(ActivityFailed, match="no sandbox link matches"):
        latency.add_latency(100, dc="dc9", az="az-a")
    with pytest.raises(ActivityFailed, match="no sandbox link matches"):
        latency.add_latency(100, dc="dc1", az="az-a", link="replicaz")
    assert all_toxics(sandbox) == {}
    assert len(default_ledger().history()) == before


def test_latency_fault_is_recorded_verified_and_reverted(sandbox: dict[str, Any]) -> None:
    result = latency.add_latency(300, dc="dc3", az="az-b")
    try:
        assert default_ledger().active(target="sandbox")[0].id == result["fault_id"]
        toxics = all_toxics(sandbox)
        assert sorted(toxics) == sorted(result["proxies"]) and len(toxics) == 5
        # Observed at the replica through its proxy.
        slot = next(
            s for s in lifecycle.require_state()["dcs"]["dc3"]["azs"]["az-b"]["slots"] if s.get("replica")
        )
        t0 = time.perf_counter()
        requests.get(f"http://{slot['listen']}/healthz", timeout=5)
        assert time.perf_counter() - t0 >= 0.29
    finally:
        out = latency.remove_latency(dc="dc3", az="az-b")
    assert out["ledger_entries_closed"] == 1
    assert all_toxics(sandbox) == {}
    assert default_ledger().active(target="sandbox") == []


def test_breaker_trips_and_fallback_is_marked(sandbox: dict[str, Any]) -> None:
    gw = sandbox["dcs"]["dc1"]["gateway"]["url"]
    assert call(gw, "warm").status_code == 200  # fills the cache for this prompt
    network.add_blackhole(dc="dc1")
    try:
        # Concurrent, so the breaker sees its minimum volume inside its window.
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(lambda i: call(gw, f"u{i}", tenant=f"t{i}"), range(40)))
        assert all(r.status_code == 200 for r in answers), [r.status_code for r in answers]
        degraded = [r for r in answers if "X-Chaosdrill-Degraded" in r.headers]
        assert degraded, "with every replica blackholed the gateway must degrade"
        for r in degraded:
            body = r.json()
            assert body["degraded"] == r.headers["X-Chaosdrill-Degraded"] in ("cache", "busy")
        states = requests.get(f"{gw}/admin/state", timeout=5).json()["breakers"]
        assert "open" in {s["state"] for s in states.values()}
    finally:
        network.remove_blackhole(dc="dc1")


def test_defences_off_turn_failures_into_5xx_and_are_restored(sandbox: dict[str, Any]) -> None:
    gw = sandbox["dcs"]["dc3"]["gateway"]["url"]
    defences.disable_defences("dc3", breaker=True, fallback=True)
    network.add_blackhole(dc="dc3")
    try:
        r = call(gw, "x")
        assert r.status_code == 504
    finally:
        network.remove_blackhole(dc="dc3")
        defences.restore_defences("dc3")
    assert requests.get(f"{gw}/admin/state", timeout=5).json()["defences"] == {
        "rate_limit": True,
        "breaker": True,
        "fallback": True,
    }


def test_kill_replicas_then_supervisor_replaces_them(sandbox: dict[str, Any]) -> None:
    killed = pods.kill_pods("dc=dc2,az=az-b", count=1)
    assert len(killed["killed"]) == 1
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = lifecycle.status()
        names = {
            s["replica"]["name"]
            for s in lifecycle.require_state()["dcs"]["dc2"]["azs"]["az-b"]["slots"]
            if s.get("replica")
        }
        if st["replicas"]["dc2/az-b"] == 2 and killed["killed"][0] not in names:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the killed replica was not replaced within 15 s")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"selector": "dc=dc1", "count": -1, "percentage": None}, BadInput),
        ({"selector": "dc=dc1", "count": None, "percentage": 150.0}, BadInput),
        ({"selector": "dc=dc1", "count": 1, "percentage": 10.0}, BadInput),
        ({"selector": "dc", "count": 1, "percentage": None}, BadInput),
        ({"selector": "dc=dc9", "count": 1, "percentage": None}, ActivityFailed),
        (
            {
                "selector": "dc=dc1",
                "count": None,
                "percentage": 100.0,
                "configuration": {"chaosdrill_max_percentage": 50.0},
            },
            ActivityFailed,
        ),
    ],
)
def test_kill_bad_input_kills_nothing(sandbox: dict[str, Any], kwargs: dict[str, Any], error: type) -> None:
    pids = set(lifecycle.require_state()["pids"])
    with pytest.raises(error):
        pods.kill_pods(**kwargs)
    assert set(lifecycle.require_state()["pids"]) == pids


def test_down_after_supervisor_kill_leaves_no_process(tmp_path: Path) -> None:
    """A second, separate sandbox: SIGKILL its supervisor, then `down` must still clean up."""
    env = dict(os.environ, CHAOSDRILL_HOME=str(tmp_path))
    cli = [sys.executable, "-m", "chaosdrill.cli"]
    subprocess.run([*cli, "sandbox", "up"], env=env, check=True, capture_output=True, timeout=90)
    state = json.loads((tmp_path / "sandbox" / "state.json").read_text())
    pids = state["pids"]
    assert len(pids) >= 20
    os.kill(state["supervisor"]["pid"], signal.SIGKILL)
    down = subprocess.run([*cli, "sandbox", "down"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    time.sleep(0.5)
    alive = [p for p in pids if procs.alive(p)]
    assert alive == []
    st = subprocess.run(
        [*cli, "sandbox", "status", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert json.loads(st.stdout) == {"up": False} and st.returncode == 1


def test_batch_is_shed_first_under_pressure(sandbox: dict[str, Any]) -> None:
    """Fill dc1's gateway with slow interactive requests, then send batch: batch gets 429
    with X-Chaosdrill-Shed, interactive is never shed, and nothing is a 5xx.

    45 interactive + 15 batch stay under the 64-request interactive limit but far over the
    batch limit (60% of 64). The pressure lasts about the 0.5 s upstream timeout, so on a
    busy machine the burst is tried up to three times; every try must shed no interactive
    request and answer no 5xx, and at least one must shed batch.
    """
    gw = sandbox["dcs"]["dc1"]["gateway"]["url"]
    settle_breakers(gw)  # an open breaker answers at once from the fallback: no pressure would build
    shed: list[requests.Response] = []
    latency.add_latency(400, dc="dc1")
    try:
        for attempt in range(3):
            with ThreadPoolExecutor(max_workers=64) as pool:
                interactive = [pool.submit(call, gw, f"i{i}", f"ti{attempt}-{i}") for i in range(45)]
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:
                    in_flight = requests.get(f"{gw}/admin/state", timeout=5).json()["in_flight"]
                    if in_flight >= 40:
                        break
                    time.sleep(0.01)
                batch = [pool.submit(call, gw, f"b{i}", f"tb{attempt}-{i}", "batch") for i in range(15)]
                inter_answers = [f.result() for f in interactive]
                batch_answers = [f.result() for f in batch]
            assert not [r for r in inter_answers if "X-Chaosdrill-Shed" in r.headers]
            assert not [r for r in inter_answers + batch_answers if r.status_code >= 500]
            shed = [r for r in batch_answers if r.headers.get("X-Chaosdrill-Shed") == "batch"]
            if shed:
                break
    finally:
        latency.remove_latency(dc="dc1")
    assert shed, "batch was never shed although the gateway held >= 40 interactive requests"
    assert all(r.status_code == 429 and r.headers.get("Retry-After") for r in shed)


@pytest.mark.parametrize(
    ("action", "kwargs", "message"),
    [
        (zones.zone_outage, {"zone": "dc9-az-a"}, "unknown zone"),
        (zones.zone_partition, {"zone": "dc1-az-z"}, "unknown zone"),
        (datacenters.dc_failover, {"dc": "dc9"}, "unknown data center"),
    ],
)
def test_zone_and_dc_actions_refuse_unknown_names(
    sandbox: dict[str, Any], action: Any, kwargs: dict[str, Any], message: str
) -> None:
    before = len(default_ledger().history())
    with pytest.raises(ActivityFailed, match=message):
        action(**kwargs, configuration={"chaosdrill_target": "sandbox"})
    assert len(default_ledger().history()) == before


def test_zone_partition_blackholes_only_that_pool(sandbox: dict[str, Any]) -> None:
    conf = {"chaosdrill_target": "sandbox", "chaosdrill_allow_dcs": ["dc3"]}
    out = zones.zone_partition("dc3-az-a", configuration=conf)
    try:
        assert sorted(all_toxics(sandbox)) == sorted(out["proxies"])
        assert all(p.startswith("dc3-az-a-replicas-") for p in out["proxies"])
    finally:
        zones.zone_partition_rollback("dc3-az-a", configuration=conf)
    assert all_toxics(sandbox) == {}
    with pytest.raises(ActivityFailed, match="allowlist"):
        zones.zone_partition("dc1-az-a", configuration=conf)
