"""Typed results from Prometheus', Alertmanager's and the webhook receiver's JSON, as the real
servers write it (bodies copied from Prometheus 2.42 and Alertmanager 0.25)."""

import json
import math
from pathlib import Path

import pytest

from chaosdrill.drivers import alertmanager, prometheus
from chaosdrill.drivers.notifications import notifications_file, read_notifications
from chaosdrill.drivers.timestamps import parse_rfc3339
from chaosdrill.errors import BadInput, PermanentError

pytestmark = pytest.mark.unit


def test_rfc3339_with_nanoseconds_zone_and_go_zero_time() -> None:
    assert parse_rfc3339("1970-01-01T00:00:01.5Z") == 1.5
    assert parse_rfc3339("1970-01-01T01:00:00.000000001+01:00") == pytest.approx(1e-9)
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None
    assert parse_rfc3339("") is None
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")


def test_vector_with_nan_and_labels() -> None:
    result = prometheus.parse_query_result(
        {
            "resultType": "vector",
            "result": [
                {"metric": {"job": "a"}, "value": [1700000000.5, "1.5"]},
                {"metric": {"job": "b"}, "value": [1700000000.5, "NaN"]},
            ],
        }
    )
    assert result.result_type == "vector"
    assert [(s.labels, s.at) for s in result.samples] == [
        ({"job": "a"}, 1700000000.5),
        ({"job": "b"}, 1700000000.5),
    ]
    assert result.samples[0].value == 1.5 and math.isnan(result.samples[1].value)


def test_scalar_is_one_unlabelled_sample() -> None:
    result = prometheus.parse_query_result({"resultType": "scalar", "result": [10.0, "+Inf"]})
    assert result.samples == (prometheus.Sample({}, math.inf, 10.0),)


def test_matrix_series_points() -> None:
    series = prometheus.parse_range_result(
        {"resultType": "matrix", "result": [{"metric": {"a": "1"}, "values": [[1, "0"], [2, "3"]]}]}
    )
    assert series == (prometheus.Series({"a": "1"}, ((1.0, 0.0), (2.0, 3.0))),)


def test_an_unexpected_shape_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError):
        prometheus.parse_query_result({"resultType": "vector", "result": [{"metric": {}, "value": ["x"]}]})
    with pytest.raises(PermanentError):
        prometheus.parse_range_result({"resultType": "vector", "result": []})


def test_rule_groups_and_their_alerts() -> None:
    data = {
        "groups": [
            {
                "name": "slo",
                "file": "/etc/prometheus/rules.yml",
                "interval": 1,
                "rules": [
                    {
                        "state": "firing",
                        "name": "Burn",
                        "query": "x > 1",
                        "duration": 120,
                        "labels": {"severity": "page"},
                        "annotations": {},
                        "alerts": [
                            {
                                "labels": {"alertname": "Burn", "severity": "page"},
                                "annotations": {"summary": "s"},
                                "state": "firing",
                                "activeAt": "1970-01-01T00:00:10Z",
                                "value": "2e+00",
                            }
                        ],
                        "health": "ok",
                        "type": "alerting",
                    },
                    {
                        "name": "job:x:rate",
                        "query": "rate(x[1m])",
                        "health": "err",
                        "lastError": "boom",
                        "type": "recording",
                    },
                ],
            }
        ]
    }
    (group,) = prometheus.parse_rule_groups(data)
    assert (group.name, group.file, group.interval_s) == ("slo", "/etc/prometheus/rules.yml", 1.0)
    burn, recording = group.rules
    assert (burn.kind, burn.for_s, burn.state, burn.labels) == (
        "alerting",
        120.0,
        "firing",
        {"severity": "page"},
    )
    assert burn.alerts[0].active_at == 10.0 and burn.alerts[0].value == 2.0 and burn.alerts[0].name == "Burn"
    assert (recording.kind, recording.health, recording.last_error, recording.alerts) == (
        "recording",
        "err",
        "boom",
        (),
    )


def test_active_alerts() -> None:
    (alert,) = prometheus.parse_alerts(
        {
            "alerts": [
                {
                    "labels": {"alertname": "A"},
                    "state": "pending",
                    "activeAt": "1970-01-01T00:00:01Z",
                    "value": "1",
                }
            ]
        }
    )
    assert (alert.name, alert.state, alert.active_at, alert.annotations) == ("A", "pending", 1.0, {})


def test_alertmanager_alerts_and_status_without_its_config() -> None:
    (alert,) = alertmanager.parse_alerts(
        [
            {
                "annotations": {},
                "endsAt": "1970-01-01T00:05:00Z",
                "fingerprint": "abc",
                "receivers": [{"name": "p0"}],
                "startsAt": "1970-01-01T00:00:02.250Z",
                "status": {"inhibitedBy": [], "silencedBy": ["s1"], "state": "suppressed"},
                "updatedAt": "1970-01-01T00:00:03Z",
                "labels": {"alertname": "A", "case": "x"},
            }
        ]
    )
    assert (alert.name, alert.state, alert.receivers, alert.silenced_by) == (
        "A",
        "suppressed",
        ("p0",),
        ("s1",),
    )
    assert (alert.starts_at, alert.ends_at) == (2.25, 300.0)
    status = alertmanager.parse_status(
        {
            "cluster": {"status": "disabled"},
            "versionInfo": {"version": "0.25.0"},
            "config": {"original": "receivers: [{webhook_configs: [{url: http://x/?token=SECRET}]}]"},
            "uptime": "1970-01-01T00:00:04Z",
        }
    )
    assert status == alertmanager.AlertmanagerStatus("0.25.0", "disabled", 4.0)
    assert "SECRET" not in repr(status)


def _record(received_at: float, alertname: str = "A", status: str = "firing") -> str:
    payload = {
        "receiver": "p0",
        "status": status,
        "groupLabels": {"alertname": alertname},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": alertname, "case": "x"},
                "startsAt": "1970-01-01T00:00:05Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "f",
            }
        ],
    }
    return json.dumps({"received_at": received_at, "payload": payload})


def test_notifications_since_a_time_and_a_torn_last_line_skipped(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(_record(10.0) + "\n" + _record(20.0, "B", "resolved") + "\n" + '{"received_at": 30, "pay')
    found = read_notifications(path, since=15.0)
    assert len(found) == 1
    (alert,) = found[0].alerts
    assert (found[0].received_at, found[0].receiver, alert.name, alert.status) == (
        20.0,
        "p0",
        "B",
        "resolved",
    )
    assert (alert.starts_at, alert.ends_at) == (5.0, None)
    assert alert.matches("B", {"case": "x"}) and not alert.matches("B", {"case": "y"})


def test_a_malformed_line_before_the_last_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text(_record(10.0) + "\n" + '{"payload": {}}' + "\n" + _record(20.0) + "\n")
    with pytest.raises(BadInput, match=r"n\.jsonl: line 2: not a recorded notification"):
        read_notifications(path)


def test_no_file_yet_is_no_notification(tmp_path: Path) -> None:
    assert read_notifications(tmp_path / "absent.jsonl") == []


def test_notifications_file_from_argument_or_configuration() -> None:
    assert notifications_file("/a.jsonl", {"chaosdrill_notifications": "/b.jsonl"}) == Path("/a.jsonl")
    assert notifications_file(None, {"chaosdrill_notifications": "/b.jsonl"}) == Path("/b.jsonl")
    with pytest.raises(BadInput, match="chaosdrill_notifications"):
        notifications_file(None, {})
