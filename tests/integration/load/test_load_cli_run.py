"""``chaosdrill load run`` end to end against the contract stub."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_run_prints_a_json_summary(
    stub: tuple[str, "subprocess.Popen[str]"], chaos_home: Path, tmp_path: Path
) -> None:
    url, _ = stub
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosdrill.cli",
            "load",
            "run",
            "--url",
            f"{url}/status/503",
            "--streams",
            "chat:acme:interactive:40",
            "bulk:beta:batch:20",
            "--duration",
            "1",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["measurements"] == str((out / "measurements.jsonl").resolve())
    assert doc["streams"]["chat"]["errors"] == {"503": 40}
    assert doc["streams"]["bulk"]["sent"] == 20
    assert doc["streams"]["*"]["good_ratio"] == 0.0


def test_run_shows_a_table(
    stub: tuple[str, "subprocess.Popen[str]"], chaos_home: Path, tmp_path: Path
) -> None:
    url, _ = stub
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "chaosdrill.cli", "load", "run", "--url", f"{url}/ok", "--rate", "30"),
            *("--duration", "1", "--out", str(tmp_path / "o"), "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "load summary" in proc.stdout and "default" in proc.stdout and "p99 ms" in proc.stdout
