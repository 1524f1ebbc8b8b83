"""Fixtures for the load tests: a contract stub in its own process, and an isolated home."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def chaos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CHAOSDRILL_HOME", str(home))
    return home


@pytest.fixture
def stub() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The contract stub on an ephemeral port: (base URL, its process, for SIGSTOP)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosdrill.load.stub", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.isdigit(), f"stub did not print its port: {line!r}"
        yield f"http://127.0.0.1:{line}", proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=10)
