"""``chaosdrill drill run`` end to end: the real CLI driving the real ``chaos run``.

The experiments here need no sandbox and no load: their hypothesis is a Python probe on
``platform.python_version``, so each ``chaos run`` takes well under a second and the test
exercises exactly the drill's own machinery (plan, subprocess, verdict, report, history).
"""

import json
import os
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _experiment(expect: str, tolerance: str) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": f"python is {tolerance}",
        "description": "a drill test experiment without load or sandbox",
        "extensions": [{"name": "chaosdrill", "expect": {"status": expect}}],
        "steady-state-hypothesis": {
            "title": "the interpreter version holds",
            "probes": [
                {
                    "type": "probe",
                    "name": "python-version",
                    "tolerance": tolerance,
                    "provider": {"type": "python", "module": "platform", "func": "python_version"},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "look-at-the-platform",
                "provider": {"type": "python", "module": "platform", "func": "platform"},
            }
        ],
        "rollbacks": [],
    }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path / "home"))
    (tmp_path / "experiments").mkdir()
    return tmp_path


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _plan(workdir: Path, name: str, experiments: list[str], **extra: Any) -> Path:
    doc = {"name": name, "target": "sandbox", "schedule": "0 3 1 * *", "experiments": experiments, **extra}
    return _write(workdir / f"{name}.yaml", doc)


def _chaosdrill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def test_bad_plan_exits_2_naming_file_and_field(workdir: Path) -> None:
    plan = _plan(workdir, "bad", ["experiments/*.yaml"], schedule="sometimes")
    done = _chaosdrill("drill", "run", str(plan), "--no-sandbox", "--out", str(workdir / "out"), cwd=workdir)
    assert done.returncode == 2, done.stderr
    assert str(plan) in done.stderr and "schedule" in done.stderr
    assert not (workdir / "out").exists()  # nothing ran


def test_experiment_without_expectation_exits_2(workdir: Path) -> None:
    doc = _experiment("completed", platform.python_version())
    del doc["extensions"]
    _write(workdir / "experiments" / "silent.yaml", doc)
    plan = _plan(workdir, "silent", ["experiments/silent.yaml"])
    done = _chaosdrill("drill", "run", str(plan), "--no-sandbox", "--out", str(workdir / "out"), cwd=workdir)
    assert done.returncode == 2
    assert "silent.yaml" in done.stderr and "expect.status" in done.stderr


def test_drill_passes_then_fails_and_history_shows_both(workdir: Path) -> None:
    version = platform.python_version()
    _write(workdir / "experiments" / "holds.yaml", _experiment("completed", version))
    _write(workdir / "experiments" / "wrong.yaml", _experiment("deviated", version))  # it will not deviate
    history = workdir / "reports" / "history.jsonl"  # <out>/../history.jsonl

    good = _plan(workdir, "good", ["experiments/holds.yaml"], slo={"availability": 0.999})
    out1 = workdir / "reports" / "good"
    done = _chaosdrill("drill", "run", str(good), "--no-sandbox", "--out", str(out1), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    journal = json.loads((out1 / "holds" / "journal.json").read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False
    # the plan's overrides reached the experiment as configuration
    assert (
        json.loads((out1 / "holds" / "drill-vars.json").read_text())["configuration"]["slo_availability"]
        == 0.999
    )
    assert "as expected" in (out1 / "index.html").read_text()

    mixed = _plan(workdir, "mixed", ["experiments/*.yaml"])
    out2 = workdir / "reports" / "mixed"
    done = _chaosdrill("drill", "run", str(mixed), "--no-sandbox", "--out", str(out2), cwd=workdir)
    assert done.returncode == 1, done.stdout + done.stderr
    suites = ET.parse(out2 / "junit.xml").getroot()
    failures = {s.get("name"): s.find("testcase[@name='outcome']/failure") for s in suites.iter("testsuite")}
    assert failures["holds"] is None
    wrong = failures["wrong"]
    assert wrong is not None and wrong.get("message") == "expected deviated, got completed"

    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert [(e["plan"], e["exit_code"]) for e in lines] == [("good", 0), ("mixed", 1)]
    shown = _chaosdrill("drill", "history", "--out", str(out2), cwd=workdir)
    assert shown.returncode == 0
    assert "good" in shown.stdout and "mixed" in shown.stdout and "failed 1/2" in shown.stdout

    report = _chaosdrill(
        "report", str(out2 / "holds" / "journal.json"), "--out", str(workdir / "r"), cwd=workdir
    )
    assert report.returncode == 0, report.stderr
    assert (workdir / "r" / "report.md").read_text().count(
        "| holds | completed | completed | as expected"
    ) == 1


def test_chaos_crash_without_journal_exits_2(workdir: Path) -> None:
    broken = _experiment("completed", platform.python_version())
    # a builtin has no signature, so chaos's own validation crashes before writing a journal
    broken["method"][0]["provider"] = {
        "type": "python",
        "module": "time",
        "func": "sleep",
        "arguments": {"secs": 0},
    }
    _write(workdir / "experiments" / "broken.yaml", broken)
    plan = _plan(workdir, "broken", ["experiments/broken.yaml"])
    done = _chaosdrill("drill", "run", str(plan), "--no-sandbox", "--out", str(workdir / "out"), cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    junit = ET.parse(workdir / "out" / "junit.xml").getroot()
    assert junit.get("errors") == "1"


def test_timeout_interrupts_chaos_which_still_writes_its_journal(workdir: Path) -> None:
    slow = _experiment("completed", platform.python_version())
    slow["method"][0]["pauses"] = {"after": 60}
    _write(workdir / "experiments" / "slow.yaml", slow)
    plan = _plan(workdir, "slow", ["experiments/slow.yaml"], timeout_s=2)
    done = _chaosdrill("drill", "run", str(plan), "--no-sandbox", "--out", str(workdir / "out"), cwd=workdir)
    assert done.returncode == 1, done.stdout + done.stderr  # expected completed, got interrupted
    journal = json.loads((workdir / "out" / "slow" / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert "timeout" in (workdir / "out" / "report.md").read_text()
