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
    # target system: these experiments touch nothing, so preflight needs no running sandbox
    doc = {"name": name, "target": "system", "schedule": "0 3 1 * *", "experiments": experiments, **extra}
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
    history = workdir / "reports" / "drill-history.sqlite"  # <out>/../drill-history.sqlite

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

    from chaosdrill.drills.store import open_store

    with open_store(history) as store:
        runs = store.runs()
    assert [(r.plan, r.scenario, r.outcome) for r in runs] == [
        ("good", "holds", "pass"),
        ("mixed", "holds", "pass"),
        ("mixed", "wrong", "fail"),
    ]
    assert all(r.guarded is False and r.detail["guard"]["how"] == "no load" for r in runs)
    shown = _chaosdrill("drill", "history", "--out", str(out2), cwd=workdir)
    assert shown.returncode == 0
    assert "holds" in shown.stdout and "wrong" in shown.stdout and "no regressions" in shown.stdout

    report = _chaosdrill(
        "report", str(out2 / "holds" / "journal.json"), "--out", str(workdir / "r"), cwd=workdir
    )
    assert report.returncode == 0, report.stderr
    assert (workdir / "r" / "report.md").read_text().count(
        "| holds | completed | completed | as expected"
    ) == 1


def test_experiment_preflight_cannot_resolve_is_refused_and_nothing_runs(workdir: Path) -> None:
    broken = _experiment("completed", platform.python_version())
    # a builtin has no signature: preflight cannot bind its arguments, so the drill refuses it
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
    assert "broken.yaml" in done.stderr and "refused by preflight" in done.stderr
    assert not (workdir / "out" / "broken" / "journal.json").exists()
    assert not (workdir / "out" / "junit.xml").exists()  # nothing ran, nothing reported


def test_chaos_crash_without_journal_exits_2(workdir: Path) -> None:
    from chaosdrill.drills.plan import load_plan
    from chaosdrill.drills.runner import run_plan

    _write(workdir / "experiments" / "holds.yaml", _experiment("completed", platform.python_version()))
    plan = load_plan(_plan(workdir, "crash", ["experiments/holds.yaml"]))
    # a `chaos` that dies at once, writing nothing: the drill's finding, not the system's
    outcome = run_plan(plan, workdir / "out", manage_target=False, chaos=["false"])
    assert outcome.exit_code == 2
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


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"experiments": ["experiments/gone.yaml"]}, "experiments[0]", "no such file"),
        ({"rehearsals": ["runbooks/gone.md"]}, "rehearsals[0]", "no such file"),
        ({"schedule": "61 3 1 * *"}, "schedule", "not a valid cron expression"),
    ],
)
def test_plan_naming_what_does_not_exist_exits_2_and_runs_nothing(
    workdir: Path, fields: dict[str, Any], field: str, problem: str
) -> None:
    _write(workdir / "experiments" / "holds.yaml", _experiment("completed", platform.python_version()))
    doc = {"experiments": ["experiments/holds.yaml"], **fields}
    plan = _plan(workdir, "missing", doc.pop("experiments"), **doc)
    done = _chaosdrill("drill", "run", str(plan), "--no-sandbox", "--out", str(workdir / "out"), cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{plan.resolve()}: {field}: " in done.stderr and problem in done.stderr
    assert not (workdir / "out").exists()  # nothing prepared, nothing run
    assert not (workdir / "drill-history.sqlite").exists()


def test_month_picks_the_rotation_slot(workdir: Path) -> None:
    version = platform.python_version()
    for name in ("first", "second", "third"):
        _write(
            workdir / "experiments" / f"{name}.yaml", {**_experiment("completed", version), "tags": [name]}
        )
    rotation = {
        "families": {"a": ["tag:first"], "b": ["tag:second"], "c": ["tag:third"]},
        "full_drill_month": 1,
    }
    plan = _plan(workdir, "rotating", ["experiments/*.yaml"], rotation=rotation)
    out = workdir / "reports" / "may"
    done = _chaosdrill(
        "drill", "run", str(plan), "--no-sandbox", "--out", str(out), "--month", "2027-05", cwd=workdir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rotation 2027-05: families b" in done.stdout
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["second"]
    from chaosdrill.drills.store import open_store

    with open_store(workdir / "reports" / "drill-history.sqlite") as store:
        assert [(r.scenario, r.family) for r in store.runs()] == [("second", "b")]
    bad = _chaosdrill(
        "drill", "run", str(plan), "--no-sandbox", "--out", str(out), "--month", "2027-13", cwd=workdir
    )
    assert bad.returncode == 2 and "--month" in bad.stderr


def test_a_refusal_between_experiments_skips_only_that_one(workdir: Path) -> None:
    from chaosdrill.drills.plan import load_plan
    from chaosdrill.drills.runner import run_plan

    version = platform.python_version()
    for name in ("a-first", "b-second", "c-third"):
        _write(workdir / "experiments" / f"{name}.yaml", _experiment("completed", version))
    plan = load_plan(_plan(workdir, "changing", ["experiments/*.yaml"]))
    seen: list[str] = []

    def preflight(path: Path) -> list[str]:
        # fine when the drill starts; the target "changes" before b-second's turn. The file is
        # the drill's private copy, named after the run folder.
        assert path.parent != workdir / "out" / path.stem, "chaos runs the private copy"
        seen.append(path.stem)
        changed = path.stem == "b-second" and seen.count("b-second") == 2
        return ["dc2 is not in chaosdrill_allow_dcs"] if changed else []

    outcome = run_plan(plan, workdir / "out", manage_target=False, preflight=preflight)
    assert seen == ["a-first", "b-second", "c-third", "b-second", "c-third"]
    assert outcome.exit_code == 2
    by_name = {r.name: r for r in outcome.results}
    assert by_name["a-first"].passed and by_name["c-third"].passed, outcome.results
    assert by_name["b-second"].error is not None and "refused by preflight" in by_name["b-second"].error
    assert not (workdir / "out" / "b-second" / "journal.json").exists()
    assert (workdir / "out" / "c-third" / "journal.json").exists()


def test_a_foreign_history_file_is_refused_before_anything_runs(workdir: Path) -> None:
    _write(workdir / "experiments" / "holds.yaml", _experiment("completed", platform.python_version()))
    plan = _plan(workdir, "foreign", ["experiments/holds.yaml"])
    foreign = workdir / "notes.sqlite"
    foreign.write_text("my notes, not a database\n" * 50)
    args = (
        "drill",
        "run",
        str(plan),
        "--no-sandbox",
        "--out",
        str(workdir / "out"),
        "--history",
        str(foreign),
    )
    done = _chaosdrill(*args, cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(foreign) in done.stderr and "not a drill history store" in done.stderr
    assert not (workdir / "out").exists()
    assert foreign.read_text().startswith("my notes")  # left as it was
