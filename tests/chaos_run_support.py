"""Running a real ``chaos run`` on a purpose-built experiment, and signalling it at a known phase.

Shared by the signal tests of the sandbox (tests/integration) and of Kubernetes
(tests/kubernetes). The experiment is written into tmp with a helper module beside it
(on PYTHONPATH) whose ``mark`` activity appends a phase name to a marker file, then
sleeps: the test waits for the marker and signals the run while it is inside that step.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "CHAOS",
    "LEDGER_CONTROL",
    "Finished",
    "Run",
    "action",
    "chaos_run",
    "journal_of",
    "load_control",
    "mark_step",
    "py",
    "reach_phase",
    "recover",
    "send",
    "signal_cases",
    "start",
    "stop",
    "wait_until",
]

CHAOS = str(Path(sys.executable).parent / "chaos")
HELPERS = '''
"""Test helpers for signal drills: phase markers and a slow step."""
import os
import time
from pathlib import Path


def mark(phase: str = "", seconds: float = 0.0) -> bool:
    """Append ``phase`` to the marker file, then sleep ``seconds``."""
    with Path(os.environ["SIGTEST_MARKS"]).open("a") as fh:
        fh.write(phase + "\\n")
    time.sleep(seconds)
    return True
'''


LEDGER_CONTROL: dict[str, Any] = {
    "name": "chaosdrill-ledger",
    "provider": {"type": "python", "module": "chaosdrill.controls.ledger"},
}


def load_control(**arguments: Any) -> dict[str, Any]:
    """The load control, declared as an experiment does, with these arguments."""
    return {
        "name": "chaosdrill-load",
        "provider": {"type": "python", "module": "chaosdrill.controls.load", "arguments": arguments},
    }


def py(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def action(name: str, provider: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "action", "name": name, "provider": provider, **extra}


def mark_step(phase: str, seconds: float = 0.0) -> dict[str, Any]:
    """A provider that marks ``phase`` and then sleeps ``seconds`` (the window to signal in)."""
    return py("sigtest_helpers", "mark", phase=phase, seconds=seconds)


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    tmp: Path
    marks: Path
    run_dir: Path
    journal: Path

    def phases(self) -> list[str]:
        return self.marks.read_text().split() if self.marks.exists() else []

    def output(self) -> str:
        return (self.tmp / "chaos.out").read_text(errors="replace")[-4000:]


def start(tmp: Path, doc: dict[str, Any], *extra: str, env: dict[str, str] | None = None) -> Run:
    """Write the experiment and its helpers into ``tmp`` and start ``chaos run`` in a session of its own."""
    (tmp / "sigtest_helpers.py").write_text(textwrap.dedent(HELPERS))
    path = tmp / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    marks, run_dir, journal = tmp / "marks", tmp / "run", tmp / "journal.json"
    full_env = {
        **(env or os.environ),
        "PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")]),
        "SIGTEST_MARKS": str(marks),
        "CHAOSDRILL_RUN_DIR": str(run_dir),
    }
    with (tmp / "chaos.out").open("wb") as out:
        proc = subprocess.Popen(
            [CHAOS, "--no-version-check", "run", *extra, "--journal-path", str(journal), str(path)],
            cwd=tmp,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a "Ctrl-C" reaches chaos and its children only
        )
    return Run(proc, tmp, marks, run_dir, journal)


def wait_until(cond: Callable[[], bool], timeout_s: float, what: str, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if run is not None and run.proc.poll() is not None:
            pytest.fail(f"chaos exited ({run.proc.returncode}) before {what}:\n{run.output()}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}" + (f":\n{run.output()}" if run else ""))


def reach_phase(run: Run, phase: str, timeout_s: float = 60) -> None:
    wait_until(lambda: phase in run.phases(), timeout_s, f"phase {phase!r}", run)
    time.sleep(0.2)  # well inside the pause / the slow step


def signal_cases(*phases: str) -> Any:
    """``pytest.mark.parametrize`` over SIGINT, SIGTERM and SIGKILL at each of ``phases``."""
    cases = [(sig, phase) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL) for phase in phases]
    return pytest.mark.parametrize(("sig", "phase"), cases, ids=[f"{s.name}-{p}" for s, p in cases])


def send(run: Run, sig: signal.Signals) -> None:
    if sig is signal.SIGINT:
        os.killpg(run.proc.pid, sig)  # what Ctrl-C in a terminal does
    else:
        os.kill(run.proc.pid, sig)  # what `kill` does


def stop(run: Run, timeout_s: float = 60) -> None:
    """Wait for the run to end; kill it if it does not (the test then fails on what it left)."""
    try:
        run.proc.wait(timeout=timeout_s)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def recover(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``chaosdrill recover``, as a user runs it after a crash."""
    return subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", "recover", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def journal_of(run: Run) -> dict[str, Any]:
    assert run.journal.exists(), run.output()
    doc: dict[str, Any] = json.loads(run.journal.read_text())
    return doc


@dataclass(frozen=True)
class Finished:
    """A ``chaos run`` that ran to its end: the process, its journal, and the tail of its log."""

    proc: subprocess.CompletedProcess[str]
    journal: dict[str, Any]
    log: str


def chaos_run(experiment: Path, tmp: Path, env: dict[str, str], timeout_s: float) -> Finished:
    """Run ``chaos run`` on ``experiment`` to the end, in ``tmp``, and read what it wrote."""
    journal, log = tmp / "journal.json", tmp / "chaostoolkit.log"
    proc = subprocess.run(
        [CHAOS, "--log-file", str(log), "run", "--journal-path", str(journal), str(experiment)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=tmp,
    )
    tail = log.read_text()[-6000:] if log.exists() else proc.stdout[-3000:] + proc.stderr[-3000:]
    assert journal.exists(), tail
    return Finished(proc, json.loads(journal.read_text()), tail)
