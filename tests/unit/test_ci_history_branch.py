"""ci/drill-history.sh carries the store on a git branch: restore, push, and a lost race kept."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaosdrill.drills.store import Run, open_store

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

SCRIPT = Path(__file__).resolve().parents[2] / "ci" / "drill-history.sh"
CHAOSDRILL = str(Path(sys.executable).parent / "chaosdrill")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def _clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(remote), str(where)], check=True, capture_output=True)
    (where / "ci").mkdir(exist_ok=True)
    shutil.copy(SCRIPT, where / "ci" / "drill-history.sh")
    return where


def _history(repo: Path, action: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOSDRILL": CHAOSDRILL, "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(
        ["bash", "ci/drill-history.sh", action], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )


def _record(repo: Path, scenario: str, month: int) -> None:
    with open_store(repo / "reports" / "drill-history.sqlite") as store:
        store.record(Run("monthly", scenario, f"2027-{month:02d}-01T03:00:00+00:00", "experiment", "pass"))


def _scenarios(repo: Path) -> list[str]:
    with open_store(repo / "reports" / "drill-history.sqlite") as store:
        return [r.scenario for r in store.runs()]


def test_restore_push_and_a_lost_race(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    seed = tmp_path / "seed"
    seed.mkdir()
    _git(seed, "init", "--quiet", "-b", "main")
    (seed / "README").write_text("x\n")
    _git(seed, "add", "README")
    _git(seed, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-m", "seed")
    _git(seed, "push", "--quiet", str(remote), "main")

    january = _clone(remote, tmp_path / "january")
    first = _history(january, "fetch")
    assert first.returncode == 0 and "starts empty" in first.stdout
    assert not (january / "reports" / "drill-history.sqlite").exists()
    _record(january, "dc-failover", 1)
    pushed = _history(january, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "drill-history" not in _git(january, "branch")  # no local branch made or switched to
    assert _git(january, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"  # the checkout is untouched

    # February: a fresh checkout gets January's store back.
    february = _clone(remote, tmp_path / "february")
    assert _history(february, "fetch").returncode == 0
    assert _scenarios(february) == ["dc-failover"]
    # Meanwhile another job pushed a run of its own; February must keep it, not overwrite it.
    other = _clone(remote, tmp_path / "other")
    assert _history(other, "fetch").returncode == 0
    _record(other, "az-outage", 2)
    assert _history(other, "push").returncode == 0
    _record(february, "redis", 2)
    done = _history(february, "push")
    assert done.returncode == 0, done.stdout + done.stderr

    march = _clone(remote, tmp_path / "march")
    assert _history(march, "fetch").returncode == 0
    assert sorted(_scenarios(march)) == ["az-outage", "dc-failover", "redis"]
    log = _git(remote, "log", "--oneline", "drill-history")
    assert len(log.strip().splitlines()) == 3  # every month's copy stays in the branch's log
