"""Run the local Kubernetes control plane with kwokctl's binary runtime.

A real kube-apiserver, kube-controller-manager, kube-scheduler and etcd, with kwok
faking kubelets and pods and metrics-server serving kwok's simulated usage to the HPA.
Everything kwokctl would otherwise fetch is pinned in a generated kwokctl configuration
to the binaries ``chaosdrill.kube.build`` made, and the metrics-server manifest is a
local kustomize folder written here, so ``up`` downloads nothing; ``dry_run()`` returns
kwokctl's own ``--dry-run`` plan, which a test reads to prove it.

The cluster keeps its own kubeconfig under ``paths.home()/cluster`` and never touches
``~/.kube/config``. Nodes carry ``topology.kubernetes.io/zone`` (and region) plus a data
center label, laid out by :class:`Topology`. This module only starts and stops processes
and applies manifests with the kubectl it built: it needs no Kubernetes client library.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaosdrill import paths
from chaosdrill.errors import BadInput, ToolError
from chaosdrill.kube import build, evidence
from chaosdrill.procs import alive

__all__ = [
    "CLUSTER_NAME",
    "CONTEXT",
    "DC_LABEL",
    "ZONE_LABEL",
    "ClusterStatus",
    "Topology",
    "apply_manifests",
    "cluster_dir",
    "down",
    "dry_run",
    "evidence_dir",
    "kubeconfig_path",
    "kubectl",
    "status",
    "up",
]

Progress = Callable[[str], None]

CLUSTER_NAME = "chaosdrill"
CONTEXT = f"kwok-{CLUSTER_NAME}"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
DC_LABEL = "chaosdrill.io/datacenter"
NODE_MARK = "chaosdrill.io/kwok-node"
# A test and debugging hook: JSON {"component": {"flag": "value"}}, extra flags for a component
# (a bogus metrics-server flag makes a start fail on purpose, to prove its logs are kept).
EXTRA_ARGS_ENV = "CHAOSDRILL_CLUSTER_EXTRA_ARGS"
MAX_RESTARTS = 3  # per component and start: a component that keeps dying fails the start


@dataclass(frozen=True)
class Topology:
    """Data centers x zones x nodes; zones are named ``<dc>-az-<letter>`` like the sandbox's."""

    dcs: int = 3
    zones_per_dc: int = 2
    nodes_per_zone: int = 2
    node_cpu: str = "32"
    node_memory: str = "256Gi"
    node_pods: int = 110

    def __post_init__(self) -> None:
        for name in ("dcs", "zones_per_dc", "nodes_per_zone"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BadInput("<argument>", name, f"must be a positive integer, got {value!r}")
        if self.zones_per_dc > 26:
            raise BadInput("<argument>", "zones_per_dc", "at most 26 zones per data center")

    def datacenters(self) -> list[str]:
        return [f"dc{i + 1}" for i in range(self.dcs)]

    def zones(self, dc: str) -> list[str]:
        return [f"{dc}-az-{chr(ord('a') + z)}" for z in range(self.zones_per_dc)]

    def node_names(self) -> list[tuple[str, str, str]]:
        """``(node, dc, zone)`` for every node, in a stable order."""
        return [
            (f"{zone}-node-{n}", dc, zone)
            for dc in self.datacenters()
            for zone in self.zones(dc)
            for n in range(self.nodes_per_zone)
        ]

    def node_manifests(self) -> list[dict[str, Any]]:
        capacity = {"cpu": self.node_cpu, "memory": self.node_memory, "pods": str(self.node_pods)}
        return [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                        # metrics-server scrapes this path on kwok's server instead of a kubelet's.
                        "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
                    },
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        NODE_MARK: "true",
                        ZONE_LABEL: zone,
                        REGION_LABEL: dc,
                        DC_LABEL: dc,
                    },
                },
                "status": {"allocatable": capacity, "capacity": capacity},
            }
            for name, dc, zone in self.node_names()
        ]


@dataclass(frozen=True)
class ClusterStatus:
    """What ``cluster status`` reports; ``running`` means every component process is alive."""

    running: bool
    kubeconfig: str
    context: str
    components: dict[str, bool] = field(default_factory=dict)
    topology: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cluster_dir() -> Path:
    return paths.home() / "cluster"


def kubeconfig_path() -> Path:
    return cluster_dir() / "kubeconfig"


def _workdir() -> Path:
    return cluster_dir() / "kwok"


def _state_file() -> Path:
    return cluster_dir() / "state.json"


def _pids_dir() -> Path:
    return _workdir() / "clusters" / CLUSTER_NAME / "pids"


def _logs_dir() -> Path:
    return _workdir() / "clusters" / CLUSTER_NAME / "logs"


def evidence_dir() -> Path:
    """Where a failed start's logs, and a dead component's, are kept (``down`` leaves it)."""
    return cluster_dir() / "evidence"


def _extra_args() -> dict[str, dict[str, str]]:
    """``$CHAOSDRILL_CLUSTER_EXTRA_ARGS``, checked."""
    raw = os.environ.get(EXTRA_ARGS_ENV, "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as e:
        raise BadInput(f"${EXTRA_ARGS_ENV}", "value", f"not JSON: {e}") from e
    if not isinstance(parsed, dict) or not all(
        isinstance(flags, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in flags.items())
        for flags in parsed.values()
    ):
        raise BadInput(f"${EXTRA_ARGS_ENV}", "value", 'must be {"component": {"flag": "value"}}')
    return {str(name): dict(flags) for name, flags in parsed.items()}


def _write_metrics_manifest(root: Path) -> Path:
    """A kustomize folder with the two objects kwokctl keeps from metrics-server's manifest.

    kwokctl rewrites the Service into an ExternalName pointing at the metrics-server
    process and the APIService to its port; it drops Deployments and RBAC, which a
    binary runtime does not need.
    """
    folder = root / "metrics-server-manifest"
    folder.mkdir(parents=True, exist_ok=True)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "metrics-server",
            "namespace": "kube-system",
            "labels": {"k8s-app": "metrics-server"},
        },
        "spec": {
            "selector": {"k8s-app": "metrics-server"},
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}],
        },
    }
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "insecureSkipTLSVerify": True,
            "service": {"name": "metrics-server", "namespace": "kube-system"},
        },
    }
    (folder / "service.yaml").write_text(yaml.safe_dump(service), encoding="utf-8")
    (folder / "apiservice.yaml").write_text(yaml.safe_dump(api_service), encoding="utf-8")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["service.yaml", "apiservice.yaml"],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    return folder


def _write_config(bins: build.Binaries) -> Path:
    """The kwokctl configuration that pins every binary and manifest to a local path."""
    root = cluster_dir()
    root.mkdir(parents=True, exist_ok=True)
    manifests = _write_metrics_manifest(root)
    options = {
        "runtime": "binary",
        "kubeVersion": bins.kube_version,
        "kubeBinaryPrefix": str(bins.kube_dir),
        "kubeApiserverBinary": str(bins.kube_dir / "kube-apiserver"),
        "kubeControllerManagerBinary": str(bins.kube_dir / "kube-controller-manager"),
        "kubeSchedulerBinary": str(bins.kube_dir / "kube-scheduler"),
        "kubectlBinary": str(bins.kube_dir / "kubectl"),
        "etcdBinary": str(bins.etcd),
        "kwokControllerBinary": str(bins.kwok),
        "metricsServerBinary": str(bins.metrics_server),
        "metricsServerManifests": [str(manifests)],
        "enable": ["metrics-server"],
        "bindAddress": "127.0.0.1",
        "cacheDir": str(_workdir() / "cache"),
        "quietPull": True,
        # Drills and benchmarks create and delete thousands of objects; client-side QPS
        # limits in the controllers would measure the limiter, not the control plane.
        "disableQPSLimits": True,
    }
    # A drill wants to see the HPA move within a minute, not at the production cadence:
    # sync every 5s (default 15s) and scrape usage every 10s (kwokctl's default 15s).
    patches: list[dict[str, Any]] = [
        {
            "name": "kube-controller-manager",
            "extraArgs": [
                {"key": "horizontal-pod-autoscaler-sync-period", "value": "5s"},
                # One instance each: leader election only adds a way to die. On a loaded
                # machine a late lease renewal makes the component exit, and nothing
                # restarts it (seen at 1,000 nodes / 10,000 pods on 2 cores).
                {"key": "leader-elect", "value": "false"},
            ],
        },
        {"name": "kube-scheduler", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
        {
            "name": "metrics-server",
            # metrics-server insists the resolution exceeds its kubelet request timeout (10s).
            "extraArgs": [
                {"key": "metric-resolution", "value": "10s", "override": True},
                {"key": "kubelet-request-timeout", "value": "5s"},
            ],
        },
    ]
    for component, flags in _extra_args().items():
        # Appended, not "override" (kwokctl only overrides a flag it already passes, and
        # drops any other with a warning); a flag given twice takes its last value.
        args = [{"key": k, "value": v} for k, v in flags.items()]
        found = [p for p in patches if p["name"] == component]
        if found:
            found[0]["extraArgs"] = [*found[0]["extraArgs"], *args]
        else:
            patches.append({"name": component, "extraArgs": args})
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": patches,
    }
    path = root / "kwokctl.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
    return path


def _require_binaries() -> build.Binaries:
    bins = build.binaries()
    missing = bins.missing()
    if missing:
        raise ToolError(
            "the local cluster's binaries are not built ("
            + ", ".join(p.name for p in missing)
            + "); run `chaosdrill tools install --kubernetes`"
        )
    return bins


def _kwokctl(
    bins: build.Binaries, args: Sequence[str], *, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KWOK_WORKDIR=str(_workdir()))
    try:
        return subprocess.run(
            [str(bins.kwokctl), "--name", CLUSTER_NAME, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"kwokctl {' '.join(args)} did not finish within {timeout_s:.0f}s") from e


def _create_args(config: Path) -> list[str]:
    return ["--config", str(config), "create", "cluster", "--kubeconfig", str(kubeconfig_path())]


def dry_run() -> str:
    """kwokctl's plan for ``up``: every command it would run and everything it would fetch."""
    bins = _require_binaries()
    config = _write_config(bins)
    proc = _kwokctl(bins, ["--dry-run", *_create_args(config)], timeout_s=60)
    if proc.returncode != 0:
        raise ToolError(f"kwokctl --dry-run failed:\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def kubectl(args: Sequence[str], *, stdin: str | None = None, timeout_s: float = 60) -> str:
    """Run the built kubectl against the local cluster; ToolError with its stderr on failure."""
    bins = _require_binaries()
    cmd = [
        str(bins.kube_dir / "kubectl"),
        "--kubeconfig",
        str(kubeconfig_path()),
        "--context",
        CONTEXT,
        *args,
    ]
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise ToolError(f"kubectl {' '.join(args)} timed out after {timeout_s:.0f}s") from e
    if proc.returncode != 0:
        raise ToolError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def _component_pids() -> dict[str, int]:
    pids: dict[str, int] = {}
    folder = _pids_dir()
    if not folder.is_dir():
        return pids
    for f in folder.glob("*.pid"):
        try:
            pids[f.stem] = int(f.read_text(encoding="utf-8").strip())
        except ValueError:
            continue
    return pids


def status() -> ClusterStatus:
    pids = _component_pids()
    components = {name: alive(pid) for name, pid in sorted(pids.items())}
    topology = None
    if _state_file().exists():
        topology = json.loads(_state_file().read_text(encoding="utf-8")).get("topology")
    return ClusterStatus(
        running=bool(components) and all(components.values()),
        kubeconfig=str(kubeconfig_path()),
        context=CONTEXT,
        components=components,
        topology=topology,
    )


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    interval_s: float = 1.0,
    tick: Callable[[], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if tick is not None:
            tick()  # raises to give up at once (a component that keeps dying)
        try:
            if check():
                return
        except ToolError:
            pass  # not ready yet: the API may still be starting
        if time.monotonic() >= deadline:
            raise ToolError(f"the local cluster: {what} not reached within {timeout_s:.0f}s")
        time.sleep(interval_s)


def _nodes_ready(expected: int) -> bool:
    out = kubectl(["get", "nodes", "-l", f"{NODE_MARK}=true", "-o", "json"])
    ready = 0
    for node in json.loads(out)["items"]:
        conditions = node.get("status", {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    return ready >= expected


def _metrics_available() -> bool:
    out = kubectl(["get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json"])
    conditions = json.loads(out).get("status", {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


class _Supervisor:
    """Starts again a component that died while the cluster comes up, keeping its log first.

    kwokctl's binary runtime forks every component at once and never restarts one. On a
    cold, loaded machine metrics-server can start before kube-apiserver listens; its one-time
    lookup of the ``extension-apiserver-authentication`` ConfigMap then fails and it exits
    (exit 2, "connection refused"), and the metrics.k8s.io API never becomes Available
    (``kwokctl create --wait`` only logs its own timeout and exits 0, so the start went on
    and failed 180 s later). ``kwokctl start cluster``
    starts exactly the components whose process is gone; the log of the dead one is copied
    to :func:`evidence_dir` first, since the restart truncates it.
    """

    def __init__(self, bins: build.Binaries, say: Progress) -> None:
        self.bins, self.say = bins, say
        self.restarts: dict[str, int] = {}
        self.kept: list[evidence.Kept] = []

    def __call__(self) -> None:
        dead = {name: pid for name, pid in _component_pids().items() if not alive(pid)}
        if not dead:
            return
        for name, pid in sorted(dead.items()):
            if self.restarts.get(name, 0) >= MAX_RESTARTS:
                raise ToolError(f"the local cluster: {name} died {MAX_RESTARTS + 1} times while starting")
            kept = evidence.keep(_logs_dir(), evidence_dir(), f"{name}-died", only=(name,))
            self.kept.append(kept)
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.say(f"{name} (pid {pid}) died; {kept.describe()}; starting it again")
            # kwokctl skips a component whose recorded pid answers signal 0, and a dead child
            # nobody reaped (a zombie: where pid 1 does not reap) still does: forget the pid.
            (_pids_dir() / f"{name}.pid").unlink(missing_ok=True)
        proc = _kwokctl(self.bins, ["start", "cluster"], timeout_s=180)
        if proc.returncode != 0:
            raise ToolError(
                f"kwokctl start cluster (restarting {', '.join(sorted(dead))}) failed:\n{proc.stderr[-2000:]}"
            )


def _diagnosis() -> str:
    """What a failed start looked like: each component's process, and what the API says of
    the metrics API and its own readiness (where it still answers)."""
    lines = [
        f"{name}: pid {pid} {'running' if alive(pid) else 'DEAD'}"
        for name, pid in sorted(_component_pids().items())
    ]
    for what, args in (
        ("readyz", ["get", "--raw", "/readyz?verbose"]),
        ("metrics APIService", ["get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "yaml"]),
        ("nodes", ["get", "nodes", "-o", "wide"]),
    ):
        try:
            lines.append(f"--- {what}\n{kubectl(args, timeout_s=15)}")
        except ToolError as e:
            lines.append(f"--- {what}: {e}")
    return "\n".join(lines) + "\n"


def _keep_failed_start(reason: str, kwokctl_output: str, say: Progress) -> evidence.Kept:
    notes = {"reason.txt": reason + "\n", "diagnosis.txt": _diagnosis()}
    if kwokctl_output:
        notes["kwokctl-create.log"] = kwokctl_output
    kept = evidence.keep(_logs_dir(), evidence_dir(), "failed-start", notes)
    say(f"start failed: {kept.describe()}")
    return kept


def _lay_out(topo: Topology, say: Progress, timeout_s: float, supervise: Callable[[], None]) -> None:
    nodes = topo.node_manifests()
    existing = set(kubectl(["get", "nodes", "-o", "name"]).split())
    missing = [n for n in nodes if f"node/{n['metadata']['name']}" not in existing]
    if missing:
        # One POST per node (apply would GET then PATCH each); kubectl sends them one by
        # one, so a 1,000-node layout needs minutes, not the default minute.
        kubectl(
            ["create", "-f", "-"],
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": missing}),
            timeout_s=60 + 0.5 * len(missing),
        )
    _wait(f"{len(nodes)} Ready nodes", lambda: _nodes_ready(len(nodes)), timeout_s, tick=supervise)
    say(f"{len(nodes)} nodes ready: {topo.dcs} DCs x {topo.zones_per_dc} zones x {topo.nodes_per_zone} nodes")
    _wait("the metrics.k8s.io API", _metrics_available, timeout_s, tick=supervise)
    say("metrics-server available")
    _state_file().write_text(
        json.dumps({"topology": asdict(topo), "kubeconfig": str(kubeconfig_path()), "context": CONTEXT}),
        encoding="utf-8",
    )


def up(
    topology: Topology | None = None, progress: Progress | None = None, timeout_s: float = 180
) -> ClusterStatus:
    """Start the cluster (idempotent) and lay out its nodes; returns its status.

    A component that dies while the cluster comes up is started again (at most
    :data:`MAX_RESTARTS` times each), its log kept first. A start that fails anyway keeps
    every component's log, kwokctl's output and a diagnosis under :func:`evidence_dir`,
    stops every process, and names the folder and its files in the error.
    """
    say = progress or (lambda _m: None)
    topo = topology or Topology()
    bins = _require_binaries()
    current = status()
    _extra_args()  # a malformed hook is bad input, before anything starts
    supervise = _Supervisor(bins, say)
    output = ""
    try:
        if current.running:
            say(f"cluster {CLUSTER_NAME} already running; kubeconfig {kubeconfig_path()}")
        else:
            if current.components:  # a half-dead cluster from a crash: clear it first
                down(say)
            config = _write_config(bins)
            say(
                f"starting kube-apiserver, controller-manager, scheduler, etcd, kwok, metrics-server ({bins.kube_version})"
            )
            start = time.monotonic()
            # No --wait: kwokctl's readiness is "every component process runs", and a
            # component that died would hold it for the whole timeout, then only be logged;
            # the supervisor below starts it again, and _lay_out waits for what matters.
            proc = _kwokctl(bins, _create_args(config), timeout_s=timeout_s + 60)
            output = f"$ kwokctl create cluster (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
            if proc.returncode != 0:
                raise ToolError(f"kwokctl create cluster failed:\n{proc.stderr.strip()[-4000:]}")
            say(f"control plane up in {time.monotonic() - start:.1f}s")
        supervise()
        _lay_out(topo, say, timeout_s, supervise)
    except BaseException as e:
        if current.running:  # not ours to tear down or to judge
            raise
        kept = _keep_failed_start(str(e) or type(e).__name__, output, say)
        down(say)  # no process left behind; the kept folder is outside what down deletes
        if isinstance(e, Exception):
            raise ToolError(f"{e}\n{kept.describe()}") from e
        raise
    return status()


def apply_manifests(
    manifests: Sequence[Path], progress: Progress | None = None, timeout_s: float = 180
) -> None:
    """``kubectl apply`` each file or folder, then wait for every Deployment to be Available."""
    say = progress or (lambda _m: None)
    for path in manifests:
        if not path.exists():
            raise BadInput("<argument>", "--apply", f"{path} does not exist")
        kubectl(["apply", "-f", str(path)], timeout_s=timeout_s)
        say(f"applied {path}")
    kubectl(
        [
            "wait",
            "deployment",
            "--all",
            "--all-namespaces",
            "--for=condition=Available",
            f"--timeout={int(timeout_s)}s",
        ],
        timeout_s=timeout_s + 30,
    )
    say("every Deployment is Available")


def _ours(pid: int, cluster_path: Path) -> bool:
    """Is ``pid`` still one of this cluster's processes (and not a reused pid)?

    kwokctl starts every component with the cluster folder as its working directory.
    """
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return cwd.startswith(str(cluster_path)) and alive(pid)


def _stop(pids: dict[str, int], cluster_path: Path, say: Progress) -> None:
    """SIGTERM, then SIGKILL, the recorded components still running; only ours."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        alive = {n: p for n, p in pids.items() if _ours(p, cluster_path)}
        if not alive:
            return
        for name, pid in alive.items():
            say(f"{name} (pid {pid}) still running; sending {sig.name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_ours(p, cluster_path) for p in alive.values()):
            time.sleep(0.1)


def down(progress: Progress | None = None, timeout_s: float = 60) -> None:
    """Stop every component and delete the cluster; afterwards no process of it is left."""
    say = progress or (lambda _m: None)
    cluster_path = _workdir() / "clusters" / CLUSTER_NAME
    pids = _component_pids()
    bins = build.binaries()
    if bins.kwokctl.is_file() and cluster_path.exists():
        try:
            proc = _kwokctl(
                bins, ["delete", "cluster", "--kubeconfig", str(kubeconfig_path())], timeout_s=timeout_s
            )
            if proc.returncode != 0:
                say(f"kwokctl delete cluster failed: {proc.stderr.strip()[-500:]}")
        except ToolError as e:  # a loaded machine: kwokctl may not finish in time
            say(f"{e}; stopping the processes directly")
    # kwokctl stops what it started; make sure, by the pids it recorded, and only those.
    _stop(pids, cluster_path, say)
    left = [f"{n} (pid {p})" for n, p in pids.items() if _ours(p, cluster_path)]
    if left:
        raise ToolError(f"cluster down left processes behind: {', '.join(left)}")
    shutil.rmtree(cluster_path, ignore_errors=True)
    _state_file().unlink(missing_ok=True)
    say(f"cluster {CLUSTER_NAME} deleted")
