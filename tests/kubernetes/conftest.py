"""Fixtures for the local Kubernetes tier: built binaries, one cluster per session, the reference service.

The cluster lives under a session-scoped CHAOSDRILL_HOME and is always torn down, even
when a test fails. Every path a test needs is captured once here, because other
fixtures may point CHAOSDRILL_HOME elsewhere per test.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_support import REPO, SERVICE_PODS, Cluster, wait_ready

from chaosdrill.kube import build, cluster


@pytest.fixture(scope="session")
def kube_binaries() -> build.Binaries:
    """Build (first run only) and return the pinned binaries."""
    build.install_all(lambda msg: print(f"tools: {msg}", flush=True))
    bins = build.binaries()
    assert not bins.missing()
    return bins


@pytest.fixture(scope="session")
def kube_cluster(
    kube_binaries: build.Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("kube-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAOSDRILL_HOME", str(home))
        try:
            cluster.up(cluster.Topology(), lambda m: print(f"cluster: {m}", flush=True))
            yield Cluster(home=home, kubeconfig=cluster.kubeconfig_path(), context=cluster.CONTEXT)
        finally:
            mp.setenv("CHAOSDRILL_HOME", str(home))
            cluster.down(lambda m: print(f"cluster: {m}", flush=True))


@pytest.fixture(scope="session")
def reference_service(kube_cluster: Cluster) -> Cluster:
    """deploy/kubernetes applied once, with every replica ready."""
    for manifest in sorted((REPO / "deploy" / "kubernetes").glob("*.yaml")):
        kube_cluster.kubectl("apply", "-f", str(manifest))
    wait_ready(kube_cluster, "app=llm-api", SERVICE_PODS)
    return kube_cluster


@pytest.fixture
def service(reference_service: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """The reference service at full strength, with a ledger of this test's own."""
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path))
    monkeypatch.delenv("CHAOSDRILL_RUN_ID", raising=False)
    wait_ready(reference_service, "app=llm-api", SERVICE_PODS)
    yield reference_service
