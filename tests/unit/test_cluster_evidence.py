"""What a failed ``cluster up`` keeps: every component's log copied out of the cluster folder
(which ``down`` deletes), with notes, named in one line; and the extra-flags hook that lets a
test make a start fail on purpose."""

import json
from pathlib import Path

import pytest
import yaml

from chaosdrill.errors import BadInput
from chaosdrill.kube import cluster, evidence

pytestmark = pytest.mark.unit


def _logs(tmp_path: Path, names: list[str]) -> Path:
    logs = tmp_path / "cluster" / "logs"
    logs.mkdir(parents=True)
    for name in names:
        (logs / f"{name}.log").write_text(f"{name} said something\n", encoding="utf-8")
    return logs


def test_keep_copies_every_component_log_and_names_the_missing(tmp_path: Path) -> None:
    logs = _logs(
        tmp_path,
        ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller", "audit"],
    )
    kept = evidence.keep(
        logs, tmp_path / "evidence", "failed-start", {"reason.txt": "metrics API not reached\n"}
    )
    assert kept.folder.parent == tmp_path / "evidence" and kept.folder.name.endswith("-failed-start")
    assert kept.missing == ("metrics-server",)
    assert set(kept.files) == {
        "etcd.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
        "kube-scheduler.log",
        "kwok-controller.log",
        "audit.log",
        "reason.txt",
    }
    assert (kept.folder / "kube-apiserver.log").read_text() == "kube-apiserver said something\n"
    line = kept.describe()
    assert str(kept.folder) in line and "kube-apiserver.log" in line and "no log from metrics-server" in line
    for name in logs.iterdir():  # copies, not moves: the cluster's own logs are untouched
        assert name.is_file()


def test_keep_only_one_component_and_prune_old_folders(tmp_path: Path) -> None:
    logs = _logs(tmp_path, list(evidence.COMPONENTS))
    root = tmp_path / "evidence"
    for i in range(evidence.KEEP + 3):
        kept = evidence.keep(logs, root, f"metrics-server-died-{i:02d}", only=("metrics-server",))
        assert kept.files == ("metrics-server.log",) and kept.missing == ()
    folders = sorted(p.name for p in root.iterdir())
    assert len(folders) == evidence.KEEP
    assert folders[-1].endswith(f"died-{evidence.KEEP + 2:02d}")  # the newest are kept


def test_extra_args_reach_the_kwokctl_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path))
    monkeypatch.setenv(
        cluster.EXTRA_ARGS_ENV,
        json.dumps({"metrics-server": {"no-such-flag": "1"}, "kwok-controller": {"v": "4"}}),
    )
    bins = cluster.build.binaries()
    config = yaml.safe_load(cluster._write_config(bins).read_text())
    patches = {p["name"]: p["extraArgs"] for p in config["componentsPatches"]}
    assert {"key": "no-such-flag", "value": "1"} in patches["metrics-server"]
    assert {"key": "metric-resolution", "value": "10s", "override": True} in patches["metrics-server"]
    assert patches["kwok-controller"] == [{"key": "v", "value": "4"}]


@pytest.mark.parametrize("raw", ["{not json", '["metrics-server"]', '{"metrics-server": {"flag": 1}}'])
def test_bad_extra_args_are_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path))
    monkeypatch.setenv(cluster.EXTRA_ARGS_ENV, raw)
    with pytest.raises(BadInput, match=cluster.EXTRA_ARGS_ENV):
        cluster._write_config(cluster.build.binaries())
