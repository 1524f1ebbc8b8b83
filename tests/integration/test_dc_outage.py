"""Replicated session state and a whole-DC outage on the real sandbox: real Redis replication
(REPLICAOF over toxiproxy), real promotion, and a failback that must lose no acknowledged write.

Every session write goes through the edge with ``X-User`` and ``X-Chaosdrill-Seq``; a write
counts as acknowledged only if its answer was a 200 carrying ``X-Chaosdrill-Seq-Ack``.
"""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from actions import datacenters, latency, network
from chaosdrill import procs
from chaosdrill.errors import ActivityFailed
from chaosdrill.ledger import default_ledger
from chaosdrill.sandbox import lifecycle
from chaosdrill.sandbox.cells import home_dc
from probes import replication as replication_probes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DCS = ("dc1", "dc2", "dc3")


def conf(dc: str) -> dict[str, Any]:
    return {"chaosdrill_target": "sandbox", "chaosdrill_allow_dcs": [dc]}


def users_of(dc: str, n: int, prefix: str) -> list[str]:
    out = [f"{prefix}-{i}" for i in range(400) if home_dc(f"{prefix}-{i}", DCS) == dc]
    return out[:n]


def write(edge: str, user: str, seq: int) -> requests.Response:
    return requests.post(
        f"{edge}/v1/generate",
        json={"prompt": "state", "max_tokens": 4},
        headers={"X-User": user, "X-Chaosdrill-Seq": str(seq), "X-Tenant": f"state-{user}"},
        timeout=10,
    )


def acked(resp: requests.Response, seq: int) -> bool:
    return resp.status_code == 200 and resp.headers.get("X-Chaosdrill-Seq-Ack") == str(seq)


def read(edge: str, user: str) -> dict[str, Any]:
    resp = requests.get(f"{edge}/v1/session/{user}", timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    body["headers"] = dict(resp.headers)
    return body


def replication() -> dict[str, Any]:
    state = lifecycle.require_state()
    out: dict[str, Any] = requests.get(f"{state['supervisor']['api']}/sessions", timeout=10).json()
    return out


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail(f"{what} within {timeout_s:g}s")


def dc_pids(state: dict[str, Any], dc: str) -> list[int]:
    """Every process of ``dc``: gateway, replicas, cache Redis, session members it hosts."""
    info = state["dcs"][dc]
    pids = [int(info["gateway"]["pid"]), int(info["redis"]["pid"])]
    pids += [int(s["replica"]["pid"]) for p in info["azs"].values() for s in p["slots"] if s["replica"]]
    for store in state["sessions"].values():
        member = store["members"].get(dc)
        if member is not None:
            pids.append(int(member["pid"]))
    return pids


@pytest.fixture()
def in_sync(sandbox: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The sandbox with every session store in sync and at home, before and after the test."""
    wait_for(lambda: all(s["in_sync"] and s["primary"] == o for o, s in replication().items()), 30, "in sync")
    yield lifecycle.require_state()
    wait_for(lambda: all(s["in_sync"] and s["primary"] == o for o, s in replication().items()), 60, "in sync")


def test_writes_acked_on_a_primary_reach_its_replica(in_sync: dict[str, Any]) -> None:
    edge = in_sync["edge"]["url"]
    for dc in DCS:
        user = users_of(dc, 1, "rep")[0]
        for seq in range(1, 11):
            resp = write(edge, user, seq)
            assert acked(resp, seq), (resp.status_code, resp.headers, resp.text)
            assert resp.headers["X-Chaosdrill-Cell"] == dc
        body = read(edge, user)
        assert (body["seq"], body["store"], body["seqs"]) == (10, dc, list(range(1, 11)))
        store = in_sync["sessions"][dc]
        replica_host = next(h for h in store["members"] if h != dc)
        replica = redis.Redis(port=store["members"][replica_host]["port"], decode_responses=True)
        assert replica.info("replication")["role"] == "slave"
        wait_for(lambda: replica.get(f"session:{user}:seq") == "10", 5, f"seq 10 on {dc}'s replica")  # noqa: B023
        assert replica.zrange(f"session:{user}:seqs", 0, -1) == [str(n) for n in range(1, 11)]


def test_a_lower_seq_never_replaces_a_higher_one_and_bad_seqs_are_400(in_sync: dict[str, Any]) -> None:
    edge = in_sync["edge"]["url"]
    user = users_of("dc1", 1, "mono")[0]
    assert acked(write(edge, user, 7), 7)
    assert acked(write(edge, user, 3), 3)
    body = read(edge, user)
    assert (body["seq"], body["seqs"]) == (7, [3, 7])
    resp = write(edge, user, -1)
    assert resp.status_code == 400 and "X-Chaosdrill-Seq-Ack" not in resp.headers
    fresh = read(edge, "nobody-wrote-me")
    assert fresh["seq"] is None and fresh["headers"]["X-Chaosdrill-Cell"] == home_dc("nobody-wrote-me", DCS)


def test_whole_dc_outage_promotes_its_replica_and_fails_back_without_losing_an_ack(
    in_sync: dict[str, Any],
) -> None:
    edge = in_sync["edge"]["url"]
    victims = users_of("dc2", 4, "out")
    for user in victims:
        for seq in range(1, 6):
            assert acked(write(edge, user, seq), seq)
    pids = dc_pids(in_sync, "dc2")
    assert len(pids) >= 8  # gateway, 4+ replicas, cache Redis, two session members

    out = datacenters.dc_failover("dc2", failback_after_s=2.0, configuration=conf("dc2"))
    assert out["promoted"]["to"] == "dc3" and out["promoted"]["planned"] is False
    assert set(pids) <= set(out["killed"])
    assert [p for p in pids if procs.alive(p)] == []
    assert {"redis-repl-dc2", "dc2-sessions-dc2", "dc2-redis"} <= set(out["cut"])
    # Promotion: the lost DC's users read their last acknowledged seq (no lag: nothing lost).
    for user in victims:
        body = read(edge, user)
        assert (body["seq"], body["store"]) == (5, "dc3"), body
        assert body["headers"]["X-Chaosdrill-DC"] != "dc2" and body["headers"]["X-Chaosdrill-Cell"] == "dc2"

    # A writer keeps going through the failover and the failback; every ack it got must survive.
    acks: dict[str, list[int]] = {u: list(range(1, 6)) for u in victims}
    errors: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        seq = 6
        deadline = time.monotonic() + 90  # bounded in time and count
        while not stop.is_set() and seq < 2000 and time.monotonic() < deadline:
            for user in victims:
                resp = write(edge, user, seq)
                if acked(resp, seq):
                    acks[user].append(seq)
                elif resp.status_code >= 500:
                    errors.append(resp.status_code)
            seq += 1
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        datacenters.dc_failover_rollback("dc2", configuration=conf("dc2"))
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(30)

    stores = replication()
    assert {o: s["primary"] for o, s in stores.items()} == {"dc1": "dc1", "dc2": "dc2", "dc3": "dc3"}
    assert replication_probes.primaries_at_home()["ok"]
    assert all(s["in_sync"] for s in stores.values()), stores
    assert stores["dc2"]["history"][-1]["planned"] is True  # switched back with writes paused
    # Cells went home only after dc2 had been healthy for failback_after_s.
    edge_state = requests.get(f"{edge}/admin/state", timeout=5).json()["dc2"]
    healthy_at = [t["at"] for t in edge_state["transitions"] if t["healthy"]][-1]
    home_at = [t["at"] for t in edge_state["away_transitions"] if not t["away"]][-1]
    assert home_at - healthy_at >= 2.0, (healthy_at, home_at)
    assert edge_state["healthy"] and not edge_state["away"]
    for user in victims:
        body = read(edge, user)
        assert body["store"] == "dc2" and body["headers"]["X-Chaosdrill-DC"] == "dc2"
        assert body["seq"] >= max(acks[user])
        kept = set(body["seqs"])
        lost = [s for s in acks[user] if s >= max(acks[user]) - 200 and s not in kept]
        assert lost == [], f"{user}: acknowledged writes lost on the way back: {lost}"
    assert sum(len(a) for a in acks.values()) > 4 * 5 + 20  # the writer really wrote through it all


def test_replication_lag_makes_an_outage_lose_recent_acked_writes(in_sync: dict[str, Any]) -> None:
    """Undone newest first, as the ledger's sweep does: the outage, then the lag."""
    edge = in_sync["edge"]["url"]
    user = users_of("dc1", 1, "lag")[0]
    assert acked(write(edge, user, 1), 1)
    wait_for(lambda: replication()["dc1"]["lag_bytes"] == 0, 5, "dc1 in sync")
    latency.add_latency(2000, dc="dc1", link="redis-repl", configuration=conf("dc1"))
    try:
        last = 1
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.8:
            last += 1
            assert acked(write(edge, user, last), last)
        lag = replication()["dc1"]
        assert lag["in_sync"] and lag["lag_bytes"] > 0 and lag["lag_s"] >= 0.3, lag
        out = datacenters.dc_failover("dc1", failback_after_s=0.5, configuration=conf("dc1"))
        try:
            assert out["lag_at_outage"]["bytes"] > 0
            body = read(edge, user)
            assert body["store"] == "dc2"
            # Detectable loss: the promoted replica lacks acknowledged writes.
            assert body["seq"] is not None and body["seq"] < last, (body, last)
            assert set(range(1, last + 1)) - set(body["seqs"])
            after_failover = body["seq"]
        finally:
            datacenters.dc_failover_rollback("dc1", configuration=conf("dc1"))
    finally:
        latency.remove_latency(dc="dc1", link="redis-repl", configuration=conf("dc1"))
    body = read(edge, user)
    assert (body["store"], body["seq"]) == ("dc1", after_failover)  # lost stays lost, nothing else


def test_an_unknown_dc_is_refused_with_the_valid_names(in_sync: dict[str, Any]) -> None:
    before = len(default_ledger().history())
    with pytest.raises(ActivityFailed, match="unknown data center 'dc9'; the sandbox has dc1, dc2, dc3"):
        datacenters.dc_failover("dc9", configuration=conf("dc9"))
    assert len(default_ledger().history()) == before
    assert lifecycle.require_state()["down_dcs"] == []


def test_a_replica_not_in_sync_refuses_the_outage_with_the_replication_state(in_sync: dict[str, Any]) -> None:
    pids = dc_pids(in_sync, "dc3")
    network.disable_links(dc="dc3", link="redis-repl", configuration=conf("dc3"))
    try:
        wait_for(lambda: not replication()["dc3"]["in_sync"], 10, "dc3's replica out of sync")
        with pytest.raises(ActivityFailed, match="replica of dc3's session state is not in sync"):
            replication_probes.replication_in_sync("dc3")
        assert replication_probes.replication_in_sync("dc[12]")["ok"]
        before = len(default_ledger().history())
        with pytest.raises(ActivityFailed, match="replica of dc3's session state is not in sync") as caught:
            datacenters.dc_failover("dc3", configuration=conf("dc3"))
        assert "'in_sync': False" in str(caught.value) and "'link': 'down'" in str(caught.value)
        assert len(default_ledger().history()) == before
        assert all(procs.alive(p) for p in pids)
    finally:
        network.enable_links(dc="dc3", link="redis-repl", configuration=conf("dc3"))


def test_cli_redis_status_and_promote(in_sync: dict[str, Any]) -> None:
    cli = [sys.executable, "-m", "chaosdrill.cli", "sandbox", "redis"]
    status = subprocess.run([*cli, "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 0, status.stderr
    assert [line.split(":")[0] for line in status.stdout.splitlines()] == list(DCS)
    assert "in sync" in status.stdout
    user = users_of("dc1", 1, "cli")[0]
    edge = in_sync["edge"]["url"]
    assert acked(write(edge, user, 42), 42)
    promote = subprocess.run([*cli, "promote", "dc1"], capture_output=True, text=True, timeout=30)
    try:
        assert promote.returncode == 0, promote.stderr
        assert "primary dc1 -> dc2 (switchover, nothing acknowledged lost" in promote.stdout
        assert replication()["dc1"]["primary"] == "dc2"
        assert wait_for(lambda: read(edge, user)["store"] == "dc2", 2, "reads from dc2")
        assert read(edge, user)["seq"] == 42
        assert acked(write(edge, user, 43), 43)
    finally:
        back = subprocess.run(
            [*cli, "promote", "dc1", "--to", "dc1"], capture_output=True, text=True, timeout=30
        )
    assert back.returncode == 0, back.stderr
    assert read(edge, user)["seq"] == 43
    bad = subprocess.run([*cli, "promote", "dc9"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "dc1, dc2, dc3" in bad.stderr
