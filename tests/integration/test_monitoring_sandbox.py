"""The sandbox's real Prometheus and Alertmanager, end to end: every target scraped, a DC broken
under load raises the P0 and the fast burn-rate page, Alertmanager notifies the webhook, and
neither `sandbox down` nor `kill -9` of the supervisor leaves a monitoring process behind.

Each sandbox here has its own CHAOSDRILL_HOME, so it never meets the session's sandbox.
"""

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chaosdrill import procs
from chaosdrill.drivers.notifications import Notification, read_notifications
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.monitoring.targets import target_groups
from chaosdrill.sandbox import lifecycle

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

MONITORING = ("prometheus", "alertmanager", "webhook")
TOXIC = "monitoring-test-blackhole"


def processes_of(home: Path) -> list[int]:
    """Live processes whose command line names ``home``: Prometheus, Alertmanager and the
    webhook all carry a path under it, and nothing of another test run does."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not procs.alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(home) in cmdline:
            found.append(int(entry.name))
    return found


class own_home:
    """CHAOSDRILL_HOME pointed at ``home`` for a block, and put back after it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.previous: str | None = None

    def __enter__(self) -> Path:
        self.previous = os.environ.get("CHAOSDRILL_HOME")
        os.environ["CHAOSDRILL_HOME"] = str(self.home)
        return self.home

    def __exit__(self, *_exc: object) -> None:
        if self.previous is None:
            os.environ.pop("CHAOSDRILL_HOME", None)
        else:
            os.environ["CHAOSDRILL_HOME"] = self.previous


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("monitored-home")
    with own_home(home):
        try:
            yield lifecycle.up()
        finally:
            lifecycle.down()
    assert processes_of(home) == []


def prom_get(sandbox: dict[str, Any], path: str, **params: str) -> Any:
    resp = requests.get(f"{sandbox['monitoring']['prometheus']['url']}{path}", params=params, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]


def firing(state: dict[str, Any]) -> list[dict[str, str]]:
    """Labels of the alerts Prometheus holds as firing (not pending)."""
    return [a["labels"] for a in prom_get(state, "/api/v1/alerts")["alerts"] if a["state"] == "firing"]


class Load:
    """Requests to the edge from a few threads, users spread over every cell, until stopped
    (and for at most ``limit_s``)."""

    def __init__(self, edge: str, threads: int = 6, limit_s: float = 150.0) -> None:
        self.edge = edge
        self.limit_s = limit_s
        self.stop = threading.Event()
        self.codes: list[int] = []
        self.workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, worker: int) -> None:
        deadline = time.monotonic() + self.limit_s
        seq = 0
        with requests.Session() as http:
            while not self.stop.is_set() and time.monotonic() < deadline:
                seq += 1
                try:
                    resp = http.post(
                        f"{self.edge}/v1/generate",
                        json={"prompt": f"p{seq % 50}", "max_tokens": 8},
                        headers={"X-User": f"user-{worker}-{seq % 97}", "X-Tenant": f"t{worker}"},
                        timeout=10,
                    )
                    self.codes.append(resp.status_code)
                except requests.RequestException:
                    self.codes.append(0)
                time.sleep(0.05)

    def __enter__(self) -> "Load":
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for w in self.workers:
            w.join(timeout=15)


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every_s)
    pytest.fail(f"{what} did not happen within {timeout_s:g}s")


def test_state_publishes_monitoring(monitored: dict[str, Any]) -> None:
    mon = monitored["monitoring"]
    for name in MONITORING:
        assert mon[name]["url"].startswith("http://127.0.0.1:"), mon
        assert procs.alive(mon[name]["pid"])
        assert mon[name]["pid"] in monitored["pids"]  # supervisor children, killed by `down`
    assert mon["webhook"]["notifications"].endswith("notifications.jsonl")
    assert mon["rules"]["slo_target"] == 0.995
    assert ":9090" not in mon["prometheus"]["url"] and ":9093" not in mon["alertmanager"]["url"]


def test_every_component_is_a_target_and_up(monitored: dict[str, Any]) -> None:
    state = lifecycle.require_state()
    expected = {g["targets"][0]: g["labels"] for g in target_groups(state)}
    components = sorted(labels["component"] for labels in expected.values())
    assert components.count("gateway") == 3 and components.count("replica") == 12
    assert {"edge", "autoscaler", "supervisor", *MONITORING} <= set(components)
    active = prom_get(state, "/api/v1/targets", state="active")["activeTargets"]
    seen = {t["labels"]["instance"]: t for t in active}
    assert set(seen) == set(expected)
    for address, labels in expected.items():
        assert seen[address]["health"] == "up", (address, seen[address]["lastError"])
        assert {k: seen[address]["labels"][k] for k in labels} == labels


def test_a_replica_that_comes_back_on_a_new_port_is_scraped(monitored: dict[str, Any]) -> None:
    state = lifecycle.require_state()
    slot = next(s for s in state["dcs"]["dc3"]["azs"]["az-a"]["slots"] if s.get("replica"))
    os.kill(slot["replica"]["pid"], signal.SIGKILL)

    def new_replica_up() -> bool:
        now = lifecycle.require_state()
        ports = {
            f"127.0.0.1:{s['replica']['port']}"
            for s in now["dcs"]["dc3"]["azs"]["az-a"]["slots"]
            if s.get("replica")
        }
        if len(ports) < 2 or f"127.0.0.1:{slot['replica']['port']}" in ports:
            return False
        health = {
            t["labels"]["instance"]: t["health"]
            for t in prom_get(now, "/api/v1/targets", state="active")["activeTargets"]
        }
        return all(health.get(p) == "up" for p in ports)

    wait_for("the restarted replica scraped on its new port", new_replica_up, 30.0)


def first(notes: list[Notification], alert: str, path: str) -> Notification | None:
    return next((n for n in notes if alert in n.names("firing") and n.path == path), None)


def test_dc_outage_fires_p0_and_burn_rate_and_notifies(monitored: dict[str, Any]) -> None:
    state = lifecycle.require_state()
    edge = state["edge"]["url"]
    gateway = state["dcs"]["dc2"]["gateway"]["url"]
    toxi = ToxiproxyClient(state["toxiproxy"]["api"])
    dc2_links = sorted(name for name in toxi.proxies() if name.startswith("dc2-az-"))
    notifications = Path(state["monitoring"]["webhook"]["notifications"])
    with Load(edge) as load:
        wait_for("steady load", lambda: len(load.codes) > 100, 30.0)
        # No page before the fault (a P1 on latency may fire on a busy machine; it is not judged here).
        assert [a for a in firing(state) if a.get("severity") == "P0"] == []
        # Break dc2: every link to its replicas blackholed, and its fallback off so users see
        # 5xx (with the fallback on they would get marked degraded answers: no outage at all).
        # Stopping dc2's gateway would not do: the edge retries a refused request elsewhere.
        requests.post(f"{gateway}/admin/defences", json={"fallback": False}, timeout=5).raise_for_status()
        t0 = time.time()
        try:
            for name in dc2_links:
                toxi.add_toxic(name, TOXIC, "timeout", {"timeout": 0})
            alerts = wait_for(
                "FiveXXStorm{dc=dc2} and ErrorBudgetBurnFast firing",
                lambda: (
                    (names := {(a["alertname"], a.get("dc", "")) for a in firing(state)})
                    >= {("FiveXXStorm", "dc2"), ("ErrorBudgetBurnFast", "")}
                    and names
                ),
                60.0,
            )
            detected = time.time() - t0
            notes = wait_for(
                "P0 notifications of both alerts at the webhook",
                lambda: (
                    (n := read_notifications(notifications, since=t0))
                    and first(n, "FiveXXStorm", "/p0")
                    and first(n, "ErrorBudgetBurnFast", "/p0")
                    and n
                ),
                60.0,
            )
            seed = prom_get(
                state, "/api/v1/query", query="instance:gateway_requests_error_ratio_above_1pct:rate5m"
            )
        finally:
            for name in dc2_links:
                toxi.remove_toxic(name, TOXIC)
            requests.post(f"{gateway}/admin/defences", json={"fallback": True}, timeout=5)
    assert ("FiveXXStorm", "dc1") not in alerts and ("FiveXXStorm", "dc3") not in alerts
    assert 500 in {c // 100 * 100 for c in load.codes}
    storm = first(notes, "FiveXXStorm", "/p0")
    burn = first(notes, "ErrorBudgetBurnFast", "/p0")
    assert storm is not None and burn is not None
    assert storm.receiver == burn.receiver == "p0-webhook"
    assert storm.group_labels.get("dc") == "dc2"
    burn_alert = next(a for a in burn.alerts if a.name == "ErrorBudgetBurnFast")
    assert burn_alert.labels["severity"] == "P0" and burn_alert.starts_at is not None
    assert (
        burn.received_at >= burn_alert.starts_at - 1.0
    )  # notified after it fired (clock skew: none, same host)
    # Nothing of P0 reaches the P1 webhook.
    assert not [n for n in notes if n.path == "/p1" and n.names() & {"FiveXXStorm", "ErrorBudgetBurnFast"}]
    # The seed's query, recorded per gateway: dc2's gateway is above 1%.
    dc2_address = gateway.removeprefix("http://")
    assert dc2_address in {s["metric"]["instance"] for s in seed["result"]}
    print(f"detected in {detected:.1f}s; notified in {burn.received_at - t0:.1f}s")


def test_down_stops_prometheus_and_alertmanager(monitored: dict[str, Any]) -> None:
    home = Path(os.environ["CHAOSDRILL_HOME"])
    pids = [monitored["monitoring"][name]["pid"] for name in MONITORING]
    assert processes_of(home)
    lifecycle.down()
    assert not [p for p in pids if procs.alive(p)]
    assert processes_of(home) == []


def test_no_monitoring_starts_none(tmp_path: Path) -> None:
    with own_home(tmp_path / "home") as home:
        try:
            state = lifecycle.up(monitoring=False)
            assert "monitoring" not in state
            assert lifecycle.status()["monitoring"] is None
            assert processes_of(home / "sandbox" / "monitoring") == []
            names = {Path(f"/proc/{p}/comm").read_text().strip() for p in state["pids"] if procs.alive(p)}
            assert not names & {"prometheus", "prometheus-aler"}
        finally:
            lifecycle.down()
        assert processes_of(home) == []


def test_kill_9_of_the_supervisor_leaves_no_monitoring_process(tmp_path: Path) -> None:
    with own_home(tmp_path / "home") as home:
        try:
            state = lifecycle.up()
            pids = [state["monitoring"][name]["pid"] for name in MONITORING]
            os.kill(state["supervisor"]["pid"], signal.SIGKILL)
            wait_for(
                "the monitoring processes to die with the supervisor",
                lambda: not any(map(procs.alive, pids)),
                15.0,
                0.1,
            )
        finally:
            lifecycle.down()
        assert processes_of(home) == []
