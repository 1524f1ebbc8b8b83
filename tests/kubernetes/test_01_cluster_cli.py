"""``chaosdrill cluster up|status|down`` end to end, on a cluster of its own.

Runs before the shared session cluster starts; uses a one-node layout to stay cheap.
Also proves with kwokctl's own --dry-run that bringing the cluster up downloads nothing.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaosdrill.kube import build, cluster
from chaosdrill.procs import alive

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(600)]


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CHAOSDRILL_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dry_run_downloads_nothing(
    kube_binaries: build.Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path))
    plan = cluster.dry_run()
    # kwokctl prints "# Download SRC to DEST" for every binary or manifest it fetches;
    # a local source is only copied. Nothing may come from the network.
    downloads = re.findall(r"^# Download (\S+) ", plan, flags=re.M)
    assert downloads, plan  # the plan does list its binaries, so the check below is not vacuous
    assert not [d for d in downloads if "://" in d], plan
    for src in downloads:
        assert Path(src).is_file(), src
    assert "kubectl kustomize" in plan or "Build" in plan  # the metrics-server manifest is local
    assert "metrics-server" in plan
    assert not re.search(r"(?m)^(curl|wget) ", plan)


def test_up_status_down_leaves_no_process(kube_binaries: build.Binaries, tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: probe-app, namespace: default}\n"
        "spec:\n  replicas: 2\n  selector: {matchLabels: {app: probe-app}}\n"
        "  template:\n    metadata: {labels: {app: probe-app}}\n"
        "    spec: {containers: [{name: c, image: probe:1}]}\n"
    )
    try:
        up = _cli(
            home,
            "cluster",
            "up",
            "--dcs",
            "1",
            "--zones-per-dc",
            "2",
            "--nodes-per-zone",
            "1",
            "--apply",
            str(manifest),
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert "every Deployment is Available" in up.stdout
        status = _cli(home, "cluster", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert set(report["components"]) >= {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok-controller",
            "metrics-server",
        }
        assert report["topology"]["dcs"] == 1
        assert Path(report["kubeconfig"]).is_relative_to(home)
        pids = [int(p.read_text()) for p in (home / "cluster" / "kwok" / "clusters").glob("*/pids/*.pid")]
        assert pids and all(alive(p) for p in pids)
    finally:
        down = _cli(home, "cluster", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [p for p in pids if alive(p)]
    after = _cli(home, "cluster", "status")
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_up_refuses_a_bad_topology(tmp_path: Path) -> None:
    result = _cli(tmp_path, "cluster", "up", "--dcs", "0")
    assert result.returncode == 2
    assert "dcs" in result.stderr
    assert not (tmp_path / "cluster" / "kwok").exists()  # refused before starting anything


def test_a_failed_start_keeps_every_components_log_and_names_them(
    kube_binaries: build.Binaries, tmp_path: Path
) -> None:
    """A metrics-server that cannot start (a flag it does not know, through the extra-args
    hook): the supervisor starts it again a bounded number of times, then the start fails,
    every process is stopped, and the logs stay where the error says."""
    home = tmp_path / "home"
    env_hook = json.dumps({"metrics-server": {"no-such-flag": "1"}})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosdrill.cli",
            "cluster",
            "up",
            "--dcs",
            "1",
            "--zones-per-dc",
            "1",
            "--nodes-per-zone",
            "1",
            "--timeout",
            "90",
        ],
        env=dict(os.environ, CHAOSDRILL_HOME=str(home), CHAOSDRILL_CLUSTER_EXTRA_ARGS=env_hook),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    out = result.stdout + result.stderr
    if result.returncode == 0:  # the hook did not take: leave no cluster running, then fail
        _cli(home, "cluster", "down")
    assert result.returncode != 0, out
    assert f"metrics-server died {cluster.MAX_RESTARTS + 1} times" in result.stderr, out
    [folder] = re.findall(r"logs kept in (\S+failed-start): ", result.stderr)
    kept = Path(folder)
    assert kept.is_relative_to(home / "cluster" / "evidence")
    for name in (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok-controller",
        "metrics-server",
    ):
        assert f"{name}.log" in result.stderr, out  # named in the error
        assert (kept / f"{name}.log").is_file(), sorted(p.name for p in kept.iterdir())
    assert "no-such-flag" in (kept / "metrics-server.log").read_text()
    assert "metrics-server: pid" in (kept / "diagnosis.txt").read_text()
    restarts = sorted((home / "cluster" / "evidence").glob("*-metrics-server-died*"))
    assert len(restarts) == cluster.MAX_RESTARTS  # each death's log, kept before the restart truncated it
    assert "no-such-flag" in (restarts[0] / "metrics-server.log").read_text()
    assert "starting it again" in result.stdout
    died = re.findall(r"metrics-server \(pid (\d+)\) died", result.stdout)
    assert len(set(died)) == cluster.MAX_RESTARTS, (
        result.stdout
    )  # a new process each time it was started again
    # Nothing left running, the cluster itself gone, the evidence still there.
    assert not (home / "cluster" / "kwok" / "clusters" / cluster.CLUSTER_NAME).exists()
    status = _cli(home, "cluster", "status")
    assert status.returncode == 1 and "not running" in status.stdout
    assert kept.is_dir()
