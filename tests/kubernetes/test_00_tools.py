"""The pinned binaries: built once into the cache, reporting the versions they were pinned to.

This file sorts first so a cold build (tens of minutes on 2 cores) is charged to a test
whose timeout allows it; every later test finds the binaries cached.
"""

import subprocess

import pytest

from chaosdrill.kube import build

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(5400)]


def _version(path: str, *args: str) -> str:
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=30, check=True).stdout


def test_control_plane_binaries_report_pinned_versions(kube_binaries: build.Binaries) -> None:
    kube = kube_binaries.kube_dir
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert build.KUBE_VERSION in _version(str(kube / name), "--version"), name
    assert build.KUBE_VERSION in _version(str(kube / "kubectl"), "version", "--client")
    assert build.ETCD_VERSION.lstrip("v") in _version(str(kube_binaries.etcd), "--version")
    assert build.KWOK_VERSION in _version(str(kube_binaries.kwokctl), "--version")
    assert build.METRICS_SERVER_VERSION in _version(str(kube_binaries.metrics_server), "--version")


def test_binaries_live_in_the_versioned_cache(kube_binaries: build.Binaries) -> None:
    root = build.tools.cache_root() / "tools"
    assert kube_binaries.kube_dir == root / "kubernetes" / build.KUBE_VERSION / "bin"
    assert kube_binaries.etcd.parent == root / "etcd" / build.ETCD_VERSION / "bin"


def test_second_install_is_a_cache_hit(kube_binaries: build.Binaries) -> None:
    said: list[str] = []
    build.install_all(said.append)
    assert said and all("cached in" in line for line in said), said


def test_staging_requirements_are_derived_from_the_module() -> None:
    gomod = {
        "Require": [
            {"Path": "k8s.io/api", "Version": "v0.0.0"},
            {"Path": "k8s.io/klog/v2", "Version": "v2.140.0"},
            {"Path": "k8s.io/client-go", "Version": "v0.0.0"},
            {"Path": "github.com/spf13/cobra", "Version": "v0.0.0"},
        ]
    }
    assert build.staging_replacements(gomod, "v0.36.3") == [
        ("k8s.io/api", "v0.36.3"),
        ("k8s.io/client-go", "v0.36.3"),
    ]


def test_kube_wrapper_replaces_every_staging_module(kube_binaries: build.Binaries) -> None:
    gomod = (build.KUBE.spec.bin_dir().parent / "wrapper" / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {build.KUBE_VERSION}" in gomod
    replaced = [line for line in gomod.splitlines() if "=>" in line]
    assert len(replaced) >= 20  # Kubernetes has ~30 staging modules
    assert all(line.strip().endswith("v0.36.3") for line in replaced)
