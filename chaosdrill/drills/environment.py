"""Bringing a drill's target up before the experiments and down after them.

A drill only tears down what it started: if someone already has the sandbox or the local
cluster running (a developer mid-investigation), the drill uses it and leaves it running.
The sandbox is driven through its lifecycle module; the local Kubernetes cluster through
the ``chaosdrill cluster`` command, which keeps this module independent of kwok details.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chaosdrill.drivers.target import Target
from chaosdrill.errors import ToolError

__all__ = ["target_environment"]

_CLUSTER_TIMEOUT_S = 900.0


# The reference service's manifests, applied to a cluster the drill starts itself.
_MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def _cluster(
    command: str, timeout_s: float = _CLUSTER_TIMEOUT_S, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "chaosdrill.cli", "cluster", command, *extra]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"`chaosdrill cluster {command}` did not finish within {timeout_s:.0f}s") from e


@contextmanager
def _sandbox(topology: Path | None, slo: float | None, say: Callable[[str], None]) -> Iterator[None]:
    # Lazy for start-up time: a drill imports only the engine it runs on.
    from chaosdrill.sandbox import lifecycle

    started = not lifecycle.is_up()
    if started:
        say("sandbox: starting")
        # The plan's SLO is the one the sandbox's Prometheus rules judge the error budget by.
        lifecycle.up(topology, slo_target=slo if slo is not None and slo < 1.0 else None)
    else:
        say("sandbox: already up, it will be left running")
    try:
        yield
    finally:
        if started:
            say("sandbox: stopping")
            lifecycle.down()


@contextmanager
def _local_cluster(say: Callable[[str], None]) -> Iterator[None]:
    started = _cluster("status", 60).returncode != 0
    if started:
        say("cluster: starting the local control plane")
        done = _cluster("up", extra=("--apply", str(_MANIFESTS)) if _MANIFESTS.is_dir() else ())
        if done.returncode != 0:
            raise ToolError(
                f"`chaosdrill cluster up` failed ({done.returncode}): {done.stderr.strip()[-1500:]}"
            )
    else:
        say("cluster: already up, it will be left running")
    from chaosdrill.kube.cluster import kubeconfig_path  # lazy: as above, only the engine it runs on

    # The experiments read KUBECONFIG: point it at the local cluster, never at the user's.
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(kubeconfig_path())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous
        if started:
            say("cluster: stopping")
            _cluster("down")


@contextmanager
def target_environment(
    target: Target,
    *,
    manage: bool,
    topology: Path | None,
    say: Callable[[str], None],
    slo: float | None = None,
) -> Iterator[None]:
    """Run the body with the target up; ``manage=False`` assumes the caller handles it."""
    if not manage:
        yield
    elif target is Target.SANDBOX:
        with _sandbox(topology, slo, say):
            yield
    elif target is Target.KUBERNETES:
        with _local_cluster(say):
            yield
    else:  # a team's own service: it runs without us, and is never started or stopped by a drill
        say("system: the experiments' system file says where the service is; nothing to start")
        yield
