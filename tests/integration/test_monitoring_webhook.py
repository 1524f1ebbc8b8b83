"""The webhook receiver as its own process: what Alertmanager posts is on disk, stamped, and
readable as typed notifications; what is not JSON is refused and not recorded."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chaosdrill.drivers.notifications import read_notifications

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = tmp_path / "notifications.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosdrill.monitoring.webhook", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["READY"], line
        yield f"http://127.0.0.1:{line[1]}", out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_notifications_are_recorded_with_their_receive_time(receiver: tuple[str, Path]) -> None:
    url, out = receiver
    payload = {
        "receiver": "p1-webhook",
        "status": "firing",
        "groupLabels": {"alertname": "LatencyP99High"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "LatencyP99High", "dc": "dc1", "severity": "P1"},
                "startsAt": "2030-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }
    before = time.time()
    assert requests.post(f"{url}/p1", json=payload, timeout=5).status_code == 200
    bad = requests.post(f"{url}/p1", data=b"not json", timeout=5)
    assert bad.status_code == 400
    notes = read_notifications(out)
    assert len(notes) == 1
    assert notes[0].path == "/p1" and notes[0].receiver == "p1-webhook"
    assert before <= notes[0].received_at <= time.time()
    assert notes[0].alerts[0].labels == payload["alerts"][0]["labels"]
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    assert 'chaosdrill_webhook_notifications_total{path="/p1",status="firing"} 1.0' in metrics
