"""Secrets never reach a journal, a log or a report.

A real experiment (ledger and load controls, a real latency fault) declares an inline
secret, an environment secret and a configuration key marked secret. Its activities
return them, log them, and fail with them in the error message: the worst an activity
can do. After ``chaos run`` (in a tmp cwd, where chaostoolkit.log lands) and after
``chaosdrill drill run`` (which also writes the report), every file the run produced,
the ledger and the watchdog log are searched for each value: none may hold one.
A helper records a hash of every value it was handed, proving the secrets really were
resolved and used, so a run that never saw them cannot pass.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_run_support import CHAOS, LEDGER_CONTROL, load_control

from chaosdrill import paths

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

HELPERS = '''
"""Activities that mishandle secrets on purpose."""
import hashlib
import logging
import os
from pathlib import Path

from chaoslib.exceptions import ActivityFailed

log = logging.getLogger("chaosdrill.sectest")


def _seen(value: str) -> None:
    with Path(os.environ["SECTEST_SEEN"]).open("a") as fh:
        fh.write(hashlib.sha256(value.encode()).hexdigest() + "\\n")


def echo(value: str = "", *, configuration=None, secrets=None) -> str:
    """Return the value, and log it (a careless activity)."""
    _seen(value)
    log.warning("using credential %s", value)
    return value


def fail_with(value: str = "", *, configuration=None, secrets=None) -> bool:
    """Fail with the value in the message (a careless error)."""
    _seen(value)
    raise ActivityFailed(f"login refused for token {value}")
'''


def _py(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def experiment(inline: str, config_secret: str) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "secrets stay secret",
        "description": "activities that return, log and fail with secrets",
        "configuration": {
            "chaosdrill_target": "sandbox",
            "chaosdrill_secret_keys": ["db_password"],
            "db_password": config_secret,
            "region": "eu-west",
        },
        "secrets": {
            "api": {"token": inline, "env_token": {"type": "env", "key": "SECTEST_ENV_SECRET"}},
        },
        # The careless action below fails, and a failed action in the method fails the run.
        "extensions": [{"name": "chaosdrill", "expect": {"status": "failed"}}],
        "controls": [
            LEDGER_CONTROL,
            load_control(
                warmup_s=1, profile={"streams": [{"name": "chat", "tenant": "acme", "rate": 20, "users": 50}]}
            ),
        ],
        "steady-state-hypothesis": {
            "title": "the token is accepted",
            "probes": [
                {
                    "type": "probe",
                    "name": "echo-token",
                    "tolerance": inline,
                    "provider": {**_py("sectest_helpers", "echo", value="${token}"), "secrets": ["api"]},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "latency",
                "provider": _py("actions.latency", "add_latency", latency_ms=50, dc="dc1", az="az-a"),
            },
            {
                "type": "action",
                "name": "echo-env-secret",
                "provider": {**_py("sectest_helpers", "echo", value="${env_token}"), "secrets": ["api"]},
            },
            {
                "type": "action",
                "name": "echo-config-secret",
                "provider": _py("sectest_helpers", "echo", value="${db_password}"),
            },
            {
                "type": "action",
                "name": "fail-with-token",
                "provider": {**_py("sectest_helpers", "fail_with", value="${token}"), "secrets": ["api"]},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-latency",
                "provider": _py("actions.latency", "remove_latency", dc="dc1", az="az-a"),
            }
        ],
    }


@pytest.fixture
def secrets_case(tmp_path: Path, sandbox: dict[str, Any]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    values = {
        "inline": f"inline-S3CRET-{tag}",
        "env": f"env-S3CRET-{tag}",
        "config": f"config-S3CRET-{tag}",
    }
    (tmp_path / "sectest_helpers.py").write_text(textwrap.dedent(HELPERS))
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump(experiment(values["inline"], values["config"]), sort_keys=False))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "SECTEST_ENV_SECRET": values["env"],
        "SECTEST_SEEN": str(tmp_path / "seen.txt"),
        "CHAOSDRILL_RUN_DIR": str(tmp_path / "run"),
    }
    return {"tmp": tmp_path, "experiment": path, "env": env, "values": values}


def _leaks(roots: list[Path], values: dict[str, str]) -> list[str]:
    found = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            if f.name in ("secrets.yaml", "sectest_helpers.py", "seen.txt"):
                continue  # the inputs themselves
            data = f.read_bytes()
            found += [f"{name} in {f}" for name, v in values.items() if v.encode() in data]
    return found


def _assert_used(case: dict[str, Any]) -> None:
    seen = set((case["tmp"] / "seen.txt").read_text().split())
    for name, value in case["values"].items():
        assert hashlib.sha256(value.encode()).hexdigest() in seen, (
            f"the {name} secret never reached an activity"
        )


def _assert_scrubbed_journal(journal: dict[str, Any]) -> None:
    assert journal["experiment"]["secrets"]["api"]["token"] == "***"
    assert journal["experiment"]["secrets"]["api"]["env_token"] == {
        "type": "env",
        "key": "SECTEST_ENV_SECRET",
    }
    assert journal["experiment"]["configuration"]["db_password"] == "***"
    assert journal["experiment"]["configuration"]["region"] == "eu-west"  # not secret, kept
    outputs = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    assert outputs["echo-env-secret"] == "***" and outputs["echo-config-secret"] == "***"


def _home_files() -> list[Path]:
    home = paths.home()
    return [p for p in (home / "ledger.jsonl", home / "watchdog.log") if p.exists()]


def test_chaos_run_leaks_no_secret(secrets_case: dict[str, Any]) -> None:
    tmp = secrets_case["tmp"]
    done = subprocess.run(
        [
            CHAOS,
            "--no-version-check",
            "run",
            "--journal-path",
            "journal.json",
            str(secrets_case["experiment"]),
        ],
        cwd=tmp,
        env=secrets_case["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (tmp / "chaos.out").write_text(done.stdout + done.stderr)
    journal = json.loads((tmp / "journal.json").read_text())
    assert journal["status"] == "failed", done.stdout + done.stderr  # the fail-with-token action
    assert journal["chaosdrill"]["method_failures"]["actions"] == ["fail-with-token"]
    _assert_used(secrets_case)
    assert (tmp / "chaostoolkit.log").exists() and (tmp / "run" / "measurements.jsonl").exists()
    assert _leaks([tmp, *_home_files()], secrets_case["values"]) == []
    _assert_scrubbed_journal(journal)
    assert "using credential ***" in done.stderr + done.stdout  # our own log line, redacted
    assert "login refused for token ***" in (tmp / "chaostoolkit.log").read_text()


def test_drill_run_report_leaks_no_secret(secrets_case: dict[str, Any]) -> None:
    tmp = secrets_case["tmp"]
    plan = tmp / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {"name": "secrets", "target": "sandbox", "schedule": "0 3 1 * *", "experiments": ["secrets.yaml"]}
        )
    )
    env = {k: v for k, v in secrets_case["env"].items() if k != "CHAOSDRILL_RUN_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", "drill", "run", str(plan), "--out", str(tmp / "out")],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (tmp / "drill.out").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_used(secrets_case)
    journals = list((tmp / "out").rglob("journal.json"))
    assert len(journals) == 1
    reports = [p for p in (tmp / "out").rglob("*") if p.suffix in (".html", ".md", ".xml")]
    assert reports, "the drill must have written its report"
    assert _leaks([tmp, *_home_files()], secrets_case["values"]) == []
    _assert_scrubbed_journal(json.loads(journals[0].read_text()))
