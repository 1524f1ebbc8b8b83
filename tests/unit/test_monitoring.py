"""The monitoring package's pure parts: rendering, scrape targets, and the notifications reader."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.drivers.notifications import read_notifications
from chaosdrill.errors import BadInput
from chaosdrill.monitoring import layout, processes
from chaosdrill.monitoring.alertmanager_config import render_alertmanager_config, webhook_paths
from chaosdrill.monitoring.prometheus_config import PrometheusConfig, render_prometheus_config
from chaosdrill.monitoring.rules import LATENCY_THRESHOLD_RECORD, OBJECTIVE_RECORD, RuleParams, render_rules
from chaosdrill.monitoring.targets import TargetsFile, target_groups

pytestmark = pytest.mark.unit

SHIPPED = layout.shipped_dir()


def rules_by_record(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in folder.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule.get("record") or rule["alert"]] = rule
    return found


def test_rendering_sets_the_objective_and_threshold_and_nothing_else(tmp_path: Path) -> None:
    render_rules(SHIPPED / "rules", tmp_path, RuleParams(slo_target=0.9995, latency_p99_threshold_s=0.25))
    rendered = rules_by_record(tmp_path)
    shipped = rules_by_record(SHIPPED / "rules")
    assert rendered[OBJECTIVE_RECORD]["expr"] == "vector(0.9995)"
    assert rendered[LATENCY_THRESHOLD_RECORD]["expr"] == "vector(0.25)"
    changed = {name for name in shipped if shipped[name] != rendered[name]}
    assert changed == {OBJECTIVE_RECORD, LATENCY_THRESHOLD_RECORD}


def test_the_shipped_defaults_are_the_experiments_objective() -> None:
    shipped = rules_by_record(SHIPPED / "rules")
    assert shipped[OBJECTIVE_RECORD]["expr"] == RuleParams().constants()[OBJECTIVE_RECORD]
    assert shipped[LATENCY_THRESHOLD_RECORD]["expr"] == RuleParams().constants()[LATENCY_THRESHOLD_RECORD]


def test_every_alert_has_a_tier() -> None:
    alerts = {n: r for n, r in rules_by_record(SHIPPED / "rules").items() if "alert" in r}
    assert set(alerts) == {
        "DatacenterErrorBudgetBurnFast",
        "ErrorBudgetBurnFast",
        "ErrorBudgetBurnSlow",
        "ErrorBudgetBurnTicket",
        "FiveXXStorm",
        "LatencyP99High",
    }
    assert {n: r["labels"]["severity"] for n, r in alerts.items()} == {
        "DatacenterErrorBudgetBurnFast": "P0",
        "ErrorBudgetBurnFast": "P0",
        "ErrorBudgetBurnSlow": "P0",
        "ErrorBudgetBurnTicket": "P1",
        "FiveXXStorm": "P0",
        "LatencyP99High": "P1",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"slo_target": 1.0}, "slo_target"),
        ({"slo_target": 0.0}, "slo_target"),
        ({"latency_p99_threshold_s": 0.0}, "latency_p99_threshold_s"),
        ({"latency_p99_threshold_s": float("nan")}, "latency_p99_threshold_s"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, float], field: str) -> None:
    with pytest.raises(BadInput, match=field):
        RuleParams(**params)


def test_a_rules_folder_without_the_objective_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "only.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "x", "expr": "vector(1)"}]}]})
    )
    with pytest.raises(BadInput, match=OBJECTIVE_RECORD):
        render_rules(source, tmp_path / "out", RuleParams())


def test_a_malformed_rule_file_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "bad.yml").write_text("groups: 3\n")
    with pytest.raises(BadInput, match=r"bad\.yml: groups"):
        render_rules(source, tmp_path / "out", RuleParams())


def test_alertmanager_webhooks_keep_their_tier_path(tmp_path: Path) -> None:
    assert webhook_paths(SHIPPED / "alertmanager.yml") == ["/p0", "/p1"]
    out = render_alertmanager_config(
        SHIPPED / "alertmanager.yml", tmp_path / "am.yml", "http://127.0.0.1:5555"
    )
    doc = yaml.safe_load(out.read_text())
    hooks = {r["name"]: r["webhook_configs"][0]["url"] for r in doc["receivers"]}
    assert hooks == {"p0-webhook": "http://127.0.0.1:5555/p0", "p1-webhook": "http://127.0.0.1:5555/p1"}
    routes = {r["receiver"]: r["matchers"] for r in doc["route"]["routes"]}
    assert routes["p0-webhook"] == ['severity="P0"'] and routes["p1-webhook"] == ['severity="P1"']
    assert doc["route"]["group_by"] and doc["route"]["routes"][0]["repeat_interval"]


def test_the_monitoring_folder_can_be_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(layout.ENV_DIR, str(tmp_path))
    with pytest.raises(BadInput, match=r"\$CHAOSDRILL_MONITORING_DIR: rules"):
        layout.shipped_dir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: x}\n")
    assert layout.shipped_dir() == tmp_path


def test_prometheus_scrapes_and_evaluates_every_second_from_the_targets_file(tmp_path: Path) -> None:
    cfg = PrometheusConfig(tmp_path / "rules", tmp_path / "t" / "sandbox.json", "127.0.0.1:7777")
    doc = yaml.safe_load(render_prometheus_config(tmp_path / "p.yml", cfg).read_text())
    assert doc["global"]["scrape_interval"] == doc["global"]["evaluation_interval"] == "1s"
    assert doc["scrape_configs"][0]["file_sd_configs"][0]["files"] == [str(tmp_path / "t" / "sandbox.json")]
    assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:7777"]
    assert doc["rule_files"] == [str(tmp_path / "rules" / "*.yml")]


def test_process_arguments_listen_on_loopback_only(tmp_path: Path) -> None:
    am = processes.alertmanager_argv(Path("/bin/am"), tmp_path / "a.yml", tmp_path / "d", 4000)
    assert "--web.listen-address=127.0.0.1:4000" in am
    assert "--cluster.listen-address=" in am  # no gossip on 0.0.0.0:9094
    prom = processes.prometheus_argv(Path("/bin/p"), tmp_path / "p.yml", tmp_path / "d", 4001)
    assert "--web.listen-address=127.0.0.1:4001" in prom


def state_with(gateway_dc2: bool) -> dict[str, Any]:
    def slots(dc: str, az: str, ports: list[int]) -> list[dict[str, Any]]:
        return [
            {"index": i, "replica": {"name": f"{dc}-{az}-r{i}", "port": p}} for i, p in enumerate(ports)
        ] + [{"index": 9, "replica": None}]

    return {
        "supervisor": {"api": "http://127.0.0.1:1000"},
        "edge": {"url": "http://127.0.0.1:1001"},
        "autoscaler": None,
        "dcs": {
            "dc1": {
                "gateway": {"url": "http://127.0.0.1:1010"},
                "azs": {"az-a": {"slots": slots("dc1", "az-a", [2001])}},
            },
            "dc2": {
                "gateway": {"url": "http://127.0.0.1:1020"} if gateway_dc2 else None,
                "azs": {"az-b": {"slots": slots("dc2", "az-b", [2002, 2003])}},
            },
        },
        "monitoring": {
            "prometheus": {"url": "http://127.0.0.1:3000", "pid": 1},
            "rules": {"dir": "/x", "slo_target": 0.995},
        },
    }


def test_targets_follow_the_state_with_labels() -> None:
    groups = {g["targets"][0]: g["labels"] for g in target_groups(state_with(gateway_dc2=True))}
    assert groups == {
        "127.0.0.1:1000": {"component": "supervisor"},
        "127.0.0.1:1001": {"component": "edge"},
        "127.0.0.1:1010": {"component": "gateway", "dc": "dc1"},
        "127.0.0.1:2001": {
            "component": "replica",
            "dc": "dc1",
            "az": "az-a",
            "pool": "dc1/az-a",
            "replica": "dc1-az-a-r0",
        },
        "127.0.0.1:1020": {"component": "gateway", "dc": "dc2"},
        "127.0.0.1:2002": {
            "component": "replica",
            "dc": "dc2",
            "az": "az-b",
            "pool": "dc2/az-b",
            "replica": "dc2-az-b-r0",
        },
        "127.0.0.1:2003": {
            "component": "replica",
            "dc": "dc2",
            "az": "az-b",
            "pool": "dc2/az-b",
            "replica": "dc2-az-b-r1",
        },
        "127.0.0.1:3000": {"component": "prometheus"},
    }


def test_the_targets_file_is_rewritten_only_on_change(tmp_path: Path) -> None:
    tf = TargetsFile(tmp_path / "targets" / "sandbox.json")
    assert tf.update(state_with(gateway_dc2=True))
    assert not tf.update(state_with(gateway_dc2=True))
    assert tf.update(state_with(gateway_dc2=False))  # dc2's gateway stopped: its target goes
    written = json.loads(tf.path.read_text())
    assert "127.0.0.1:1020" not in {t for g in written for t in g["targets"]}
    assert [p.name for p in tf.path.parent.iterdir()] == ["sandbox.json"]


def am_payload(status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "receiver": "p0-webhook",
        "status": status,
        "groupLabels": {"alertname": "FiveXXStorm", "dc": "dc2"},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "FiveXXStorm", "dc": "dc2", "severity": "P0"},
                "annotations": {"summary": "5xx storm in dc2"},
                "startsAt": "2030-01-02T03:04:05.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc",
            }
        ],
    }


def test_notifications_read_back_typed(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    lines = [
        json.dumps({"received_at": 100.0, "path": "/p0", "payload": am_payload()}),
        json.dumps({"received_at": 200.0, "path": "/p0", "payload": am_payload("resolved")}),
    ]
    path.write_text("\n".join(lines) + "\n" + '{"received_at": 300, "pa')  # a write in progress
    notes = read_notifications(path)
    assert [n.received_at for n in notes] == [100.0, 200.0]
    first = notes[0]
    assert (first.path, first.receiver, first.status) == ("/p0", "p0-webhook", "firing")
    assert first.group_labels == {"alertname": "FiveXXStorm", "dc": "dc2"}
    assert first.names("firing") == {"FiveXXStorm"} and notes[1].names("firing") == set()
    alert = first.alerts[0]
    assert alert.labels["severity"] == "P0" and alert.ends_at is None
    assert alert.starts_at == pytest.approx(1893553445.123456)
    assert [n.received_at for n in read_notifications(path, since=150.0)] == [200.0]


def test_no_notifications_file_means_none_yet(tmp_path: Path) -> None:
    assert read_notifications(tmp_path / "missing.jsonl") == []


def test_a_corrupt_notification_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(json.dumps({"received_at": 1.0, "path": "/p0", "payload": am_payload()}) + "\nnot json\n")
    with pytest.raises(BadInput, match="line 2"):
        read_notifications(path)
