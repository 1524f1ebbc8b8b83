"""The PromQL and alert probes against a real Prometheus (behind basic auth) and Alertmanager,
with a gauge the test flips and faults written into a private ledger."""

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fault_support import inject_fault, revert_fault
from monitoring_stack import ALERT, PASSWORD, SLOW_ALERT, USERNAME, Stack, free_port, monitoring_stack

from chaosdrill import procs
from chaosdrill.drivers.alertmanager import AlertmanagerClient
from chaosdrill.drivers.http_endpoint import Endpoint, Unreachable
from chaosdrill.drivers.prometheus import QueryError
from chaosdrill.errors import ActivityFailed
from probes import alerts, prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with monitoring_stack(tmp_path_factory.mktemp("monitoring")) as s:
        yield s
    assert not any(procs.alive(pid) for pid in s.pids), "Prometheus or Alertmanager outlived the fixture"


@pytest.fixture()
def config(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("TEST_PROM_USER", USERNAME)
    monkeypatch.setenv("TEST_PROM_PASSWORD", PASSWORD)
    return stack.configuration()


def later(delay_s: float, action: Any) -> threading.Timer:
    timer = threading.Timer(delay_s, action)
    timer.start()
    return timer


# --- value_within -------------------------------------------------------------------------------


def test_value_within_passes_inside_the_bounds_and_fails_outside(
    stack: Stack, config: dict[str, Any]
) -> None:
    stack.value.labels(case="bounds").set(5)
    query = 'chaosdrill_test_value{case="bounds"}'
    stack.wait_visible(f"{query} == 5")

    result = prometheus.value_within(query, 1, 10, configuration=config)
    assert result["ok"] and [v["value"] for v in result["values"]] == [5.0]

    with pytest.raises(ActivityFailed) as e:
        prometheus.value_within(query, 6, 10, configuration=config)
    message = str(e.value)
    assert query in message and "within [6, 10]" in message and "=5" in message


def test_value_within_fails_on_an_empty_result_unless_allowed(config: dict[str, Any]) -> None:
    query = 'chaosdrill_test_value{case="absent"}'
    with pytest.raises(ActivityFailed, match="returned no series"):
        prometheus.value_within(query, 0, 1, configuration=config)
    assert prometheus.value_within(query, 0, 1, allow_empty=True, configuration=config)["empty"] is True


def test_a_syntax_error_quotes_the_query_and_prometheus_own_message(
    stack: Stack, config: dict[str, Any]
) -> None:
    query = "sum(rate(chaosdrill_test_value[1m])"
    own = requests.get(
        f"{stack.prometheus_url}/api/v1/query", params={"query": query}, auth=(USERNAME, PASSWORD), timeout=5
    ).json()["error"]
    with pytest.raises(QueryError) as e:
        prometheus.value_within(query, 0, 1, configuration=config)
    assert repr(query) in str(e.value) and own in str(e.value) and "parse error" in own


def test_wrong_credentials_fail_without_showing_the_password(
    stack: Stack, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PROM_PASSWORD", "not-the-password-123")
    with pytest.raises(ActivityFailed) as e:
        prometheus.value_within("vector(1)", 0, 2, configuration=config)
    assert "HTTP 401" in str(e.value) and "not-the-password-123" not in str(e.value)


def test_an_unreachable_prometheus_or_alertmanager_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ActivityFailed, match=f"Prometheus is not reachable at {url}"):
        prometheus.value_within("up", 0, 1, configuration={"chaosdrill_prometheus": {"url": url}})
    inject_fault(monkeypatch, tmp_path)
    with pytest.raises(ActivityFailed, match=f"Prometheus is not reachable at {url}"):
        alerts.alert_fires_within(ALERT, 1, configuration={"chaosdrill_prometheus": {"url": url}})
    with pytest.raises(Unreachable, match=f"Alertmanager is not reachable at {url}"):
        AlertmanagerClient(Endpoint(url)).status()


def test_alertmanager_status_and_its_alerts(stack: Stack) -> None:
    with AlertmanagerClient(Endpoint(stack.alertmanager_url)) as am:
        assert am.status().cluster_status == "disabled"
        assert all(a.name for a in am.alerts())


# --- fault-relative probes ----------------------------------------------------------------------


def test_fault_relative_probes_skip_before_the_method(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSDRILL_PHASE", "before")
    assert prometheus.becomes_true_within("vector(1)", 1, configuration=config)["skipped"]
    assert alerts.alert_fires_within(ALERT, 1, configuration=config)["skipped"]


def test_becomes_true_within_measures_the_time_from_the_fault(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = 'chaosdrill_test_flag{case="becomes"} > 0'
    inject_fault(monkeypatch, tmp_path)
    later(1.5, lambda: stack.flag.labels(case="becomes").set(1))

    waited = prometheus.becomes_true_within(query, 15, configuration=config)
    assert 1.5 <= waited["became_true_after_s"] <= 15

    # Asked again after the window, the same history gives the same answer.
    again = prometheus.becomes_true_within(query, 15, configuration=config)
    assert again["became_true_after_s"] == waited["became_true_after_s"]

    with pytest.raises(ActivityFailed, match=r"did not become true within 1s .*became true"):
        prometheus.becomes_true_within(query, 1, configuration=config)


def test_becomes_true_within_fails_when_it_never_does(
    config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = 'chaosdrill_test_flag{case="never"} > 0'
    inject_fault(monkeypatch, tmp_path, description="latency 300ms on dc1/az-a")
    with pytest.raises(ActivityFailed) as e:
        prometheus.becomes_true_within(query, 2, configuration=config)
    assert (
        query in str(e.value) and "within 2s" in str(e.value) and "latency 300ms on dc1/az-a" in str(e.value)
    )


def test_becomes_true_within_fails_when_it_was_true_before_the_fault(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.flag.labels(case="already").set(1)
    query = 'chaosdrill_test_flag{case="already"} > 0'
    stack.wait_visible(query)
    inject_fault(monkeypatch, tmp_path)
    with pytest.raises(ActivityFailed, match="already true"):
        prometheus.becomes_true_within(query, 2, configuration=config)


def test_holds_through_fault_judges_every_step_of_the_window(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.flag.labels(case="holds").set(1)
    steady = 'chaosdrill_test_flag{case="holds"} > 0'
    flipping = 'chaosdrill_test_flag{case="flips"} > 0'
    stack.wait_visible(steady)
    injected_at = time.time()
    fault = inject_fault(monkeypatch, tmp_path, at=injected_at)
    time.sleep(1.5)
    stack.flag.labels(case="flips").set(1)
    stack.wait_visible(flipping)
    flipped_after = time.time() - injected_at
    time.sleep(1.0)
    revert_fault(fault)

    held = prometheus.holds_through_fault(steady, configuration=config)
    assert held["points"] >= 3
    assert prometheus.holds_through_fault(
        'chaosdrill_test_flag{case="holds"} > 5', expect=False, configuration=config
    )["ok"]
    with pytest.raises(ActivityFailed, match="expected false throughout"):
        prometheus.holds_through_fault(steady, expect=False, configuration=config)
    with pytest.raises(
        ActivityFailed, match=r"was false at \d+ of \d+ points .* first 0\.00s after injection"
    ):
        prometheus.holds_through_fault(flipping, configuration=config)
    # From when it had flipped on, it held.
    assert prometheus.holds_through_fault(flipping, grace_s=flipped_after, configuration=config)["ok"]


# --- alerts -------------------------------------------------------------------------------------


def test_an_alert_from_firing_to_notified_to_resolved(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = {"case": "lifecycle"}
    fault = inject_fault(monkeypatch, tmp_path)
    later(1.0, lambda: stack.flag.labels(case="lifecycle").set(1))

    detected = alerts.alert_fires_within(ALERT, 15, labels=labels, configuration=config)
    assert 1.0 <= detected["time_to_detect_s"] <= 15

    notified = alerts.notification_received_within(ALERT, 20, labels=labels, configuration=config)
    assert detected["time_to_detect_s"] <= notified["time_to_notify_s"] <= 20
    assert notified["receiver"] == "webhook"
    # Alertmanager's startsAt is the evaluation at which Prometheus fired the alert.
    assert notified["time_to_notify_s"] - notified["after_firing_s"] == pytest.approx(
        detected["time_to_detect_s"], abs=0.002
    )

    with pytest.raises(ActivityFailed, match="still active"):
        alerts.alert_resolves_within(ALERT, 15, labels=labels, configuration=config)
    stack.flag.labels(case="lifecycle").set(0)
    revert_fault(fault)

    resolved = alerts.alert_resolves_within(ALERT, 15, labels=labels, configuration=config)
    assert 0 < resolved["time_to_resolve_s"] <= 15
    told = alerts.notification_received_within(
        ALERT, 20, status="resolved", labels=labels, path=str(stack.notifications), configuration=config
    )
    # The resolved alert's endsAt is the evaluation that resolved it.
    assert told["time_to_notify_s"] - told["after_resolving_s"] == pytest.approx(
        resolved["time_to_resolve_s"], abs=0.002
    )


def test_an_alert_that_is_only_pending_has_not_fired(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_fault(monkeypatch, tmp_path)
    stack.flag.labels(case="slow").set(1)
    with pytest.raises(ActivityFailed) as e:
        alerts.alert_fires_within(SLOW_ALERT, 3, labels={"case": "slow"}, configuration=config)
    message = str(e.value)
    assert f'{SLOW_ALERT}{{case="slow"}} did not fire within 3s' in message and "went pending" in message


def test_no_notification_fails_and_asks_alertmanager_why(
    stack: Stack, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_fault(monkeypatch, tmp_path)
    config["chaosdrill_alertmanager"] = {"url": stack.alertmanager_url}
    with pytest.raises(ActivityFailed) as e:
        alerts.notification_received_within(ALERT, 2, labels={"case": "silent"}, configuration=config)
    message = str(e.value)
    assert "within 2s" in message and "none arrived" in message
    assert f"Alertmanager at {stack.alertmanager_url} does not hold it" in message


# --- through chaos run ----------------------------------------------------------------------------

HELPERS = '''
"""A fault the test stands in for: recorded in this run's ledger, and a marker the test watches."""
import os
from pathlib import Path

from chaosdrill.ledger import Fault, default_ledger

MARKS = Path(os.environ["PROMTEST_DIR"])


def inject() -> bool:
    """Record a fault of this run and tell the test to flip its gauge on."""
    fault = Fault("test", "latency", "e2e", "flag on", {}, run_id=os.environ["CHAOSDRILL_RUN_ID"])
    default_ledger().record(fault)
    (MARKS / "injected").write_text(fault.id)
    return True


def revert() -> bool:
    """Mark the fault reverted and tell the test to flip its gauge off."""
    default_ledger().mark_reverted((MARKS / "injected").read_text())
    (MARKS / "reverted").write_text("")
    return True
'''


def _flip_on_marks(stack: Stack, marks: Path, stop: threading.Event) -> None:
    for _ in range(3000):  # at most 5 minutes
        if stop.wait(0.1):
            return
        if (marks / "reverted").exists():
            stack.flag.labels(case="e2e").set(0)
            return
        if (marks / "injected").exists():
            stack.flag.labels(case="e2e").set(1)


def test_a_chaos_run_judged_by_prometheus_and_the_webhook(stack: Stack, tmp_path: Path) -> None:
    from chaos_run_support import LEDGER_CONTROL, action, chaos_run, py

    (tmp_path / "promtest_helpers.py").write_text(HELPERS)
    stack.flag.labels(case="e2e").set(0)
    stack.wait_visible('chaosdrill_test_flag{case="e2e"} == 0')
    labels = {"case": "e2e"}

    def probe(name: str, func: str, module: str = "probes.alerts", **arguments: Any) -> dict[str, Any]:
        provider = {**py(module, func, **arguments), "secrets": ["monitoring"]}
        return {
            "type": "probe",
            "name": name,
            "provider": provider,
            "tolerance": {"type": "jsonpath", "path": "$.ok", "expect": True},
        }

    experiment = {
        "title": "an alert fires, notifies and resolves",
        "description": "the chaosdrill probes judged by a real Prometheus and Alertmanager",
        "configuration": {
            "chaosdrill_prometheus": {"url": stack.prometheus_url},
            "chaosdrill_notifications": str(stack.notifications),
        },
        "secrets": {
            "monitoring": {
                "prometheus_username": {"type": "env", "key": "TEST_PROM_USER"},
                "prometheus_password": {"type": "env", "key": "TEST_PROM_PASSWORD"},
            }
        },
        "controls": [LEDGER_CONTROL],
        "steady-state-hypothesis": {
            "title": "the flag is off, and nothing is judged before the fault",
            "probes": [
                probe(
                    "flag off",
                    "value_within",
                    module="probes.prometheus",
                    query='chaosdrill_test_flag{case="e2e"}',
                    low=0,
                    high=0,
                ),
                probe("detected", "alert_fires_within", alert=ALERT, within_s=20, labels=labels),
            ],
        },
        "method": [
            action("inject", py("promtest_helpers", "inject")),
            probe(
                "flag on",
                "becomes_true_within",
                module="probes.prometheus",
                query='chaosdrill_test_flag{case="e2e"} > 0',
                within_s=20,
            ),
            probe("notified", "notification_received_within", alert=ALERT, within_s=25, labels=labels),
            action("revert", py("promtest_helpers", "revert")),
            probe("resolved", "alert_resolves_within", alert=ALERT, within_s=20, labels=labels),
            probe(
                "told resolved",
                "notification_received_within",
                alert=ALERT,
                within_s=25,
                status="resolved",
                labels=labels,
            ),
        ],
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path), str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        "CHAOSDRILL_HOME": str(tmp_path / "home"),
        "PROMTEST_DIR": str(tmp_path),
        "TEST_PROM_USER": USERNAME,
        "TEST_PROM_PASSWORD": PASSWORD,
    }
    stop = threading.Event()
    watcher = threading.Thread(target=_flip_on_marks, args=(stack, tmp_path, stop), daemon=True)
    watcher.start()
    try:
        finished = chaos_run(path, tmp_path, env, timeout_s=180)
    finally:
        stop.set()
        watcher.join(5)

    journal = finished.journal
    assert journal["status"] == "completed" and not journal.get("deviated"), finished.log
    outputs = {r["activity"]["name"]: r["output"] for r in journal["run"]}
    assert 0 < outputs["flag on"]["became_true_after_s"] <= 20
    assert outputs["notified"]["time_to_notify_s"] <= 25 and outputs["notified"]["after_firing_s"] >= 0
    assert 0 < outputs["resolved"]["time_to_resolve_s"] <= 20
    after = {p["activity"]["name"]: p["output"] for p in journal["steady_states"]["after"]["probes"]}
    before = {p["activity"]["name"]: p["output"] for p in journal["steady_states"]["before"]["probes"]}
    assert "skipped" in before["detected"] and after["detected"]["time_to_detect_s"] > 0
    for written in (path.with_name("journal.json"), tmp_path / "chaostoolkit.log"):
        assert PASSWORD not in written.read_text()
