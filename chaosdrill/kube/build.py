"""Build the local control plane's pinned binaries from source, once per version.

Why build at all: kwokctl's binary runtime would otherwise download release binaries,
and a drill machine may only reach the Go module proxy. Why a *wrapper module* for
Kubernetes and etcd: ``go install`` refuses a module whose go.mod has ``replace``
directives, and both have them (Kubernetes points its ``k8s.io/*`` staging modules at
``./staging``, etcd points its sibling modules at ``../``). A generated wrapper module
requires the real module and, for Kubernetes, replaces every ``k8s.io/* v0.0.0``
requirement with its published ``v0.<minor>.<patch>`` tag. That list is read from the
module's own go.mod (``go mod edit -json``) rather than written down here, so a version
bump needs no code change. etcd's sibling requirements are already at their published
versions, so its wrapper only has to require it.

Binaries land in ``tools.cache_root()/tools/<name>/<version>/bin`` like every other tool;
the wrapper modules live next to them (``.../<version>/wrapper``) so a rebuild reuses
their go.sum. A per-tool lock file keeps two concurrent installs from racing.
"""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosdrill import tools
from chaosdrill.errors import ToolError

__all__ = [
    "ETCD",
    "KUBE",
    "KWOK",
    "METRICS_SERVER",
    "RECIPES",
    "Binaries",
    "Recipe",
    "binaries",
    "install_all",
    "staging_replacements",
]

Progress = Callable[[str], None]

KUBE_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# v0.8.1 is what kwok v0.8.0 defaults to, but the module proxy does not serve it and
# v0.8.0's go.mod is missing from the checksum database; v0.9.0 builds and serves the
# same metrics.k8s.io/v1beta1 API.
METRICS_SERVER_VERSION = "v0.9.0"

HEARTBEAT_S = 30.0


@dataclass(frozen=True)
class Recipe:
    """How to produce one tool's binaries.

    ``wrapper`` names the module to wrap (``None``: a plain ``go install pkg@version``).
    ``staging`` is the published version that replaces ``k8s.io/* v0.0.0`` requirements.
    """

    spec: tools.ToolSpec
    ldflags: Sequence[str] = ()
    wrapper: str | None = None
    staging: str | None = None
    needs: Sequence[str] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.spec.name


def _k8s_version_flags(pkg: str, version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    return (
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
    )


def _staging_version(kube_version: str) -> str:
    """k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y."""
    _, minor, patch = kube_version.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"


KWOK = Recipe(
    spec=tools.ToolSpec(
        name="kwok",
        version=KWOK_VERSION,
        installs=(
            tools.GoInstall("sigs.k8s.io/kwok/cmd/kwok", "kwok", "kwok"),
            tools.GoInstall("sigs.k8s.io/kwok/cmd/kwokctl", "kwokctl", "kwokctl"),
        ),
    ),
    ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",),
)

METRICS_SERVER = Recipe(
    spec=tools.ToolSpec(
        name="metrics-server",
        version=METRICS_SERVER_VERSION,
        installs=(
            tools.GoInstall(
                "sigs.k8s.io/metrics-server/cmd/metrics-server", "metrics-server", "metrics-server"
            ),
        ),
    ),
    # metrics-server reads its version from client-go's version package; kwokctl parses it.
    ldflags=_k8s_version_flags("k8s.io/client-go/pkg/version", METRICS_SERVER_VERSION),
)

ETCD = Recipe(
    spec=tools.ToolSpec(
        name="etcd",
        version=ETCD_VERSION,
        installs=(tools.GoInstall("go.etcd.io/etcd/server/v3", "server", "etcd"),),
    ),
    wrapper="go.etcd.io/etcd/server/v3",
)

KUBE = Recipe(
    spec=tools.ToolSpec(
        name="kubernetes",
        version=KUBE_VERSION,
        installs=tuple(
            tools.GoInstall(f"k8s.io/kubernetes/cmd/{cmd}", cmd, cmd)
            for cmd in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        ),
    ),
    ldflags=(
        *_k8s_version_flags("k8s.io/component-base/version", KUBE_VERSION),
        *_k8s_version_flags("k8s.io/client-go/pkg/version", KUBE_VERSION),
    ),
    wrapper="k8s.io/kubernetes",
    staging=_staging_version(KUBE_VERSION),
)

# Cheapest first, so a broken toolchain fails in a minute rather than after the long build.
RECIPES: tuple[Recipe, ...] = (KWOK, METRICS_SERVER, ETCD, KUBE)


@dataclass(frozen=True)
class Binaries:
    """Where every binary the local cluster needs lives."""

    kwokctl: Path
    kwok: Path
    etcd: Path
    kube_dir: Path  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
    metrics_server: Path
    kube_version: str = KUBE_VERSION

    def missing(self) -> list[Path]:
        wanted = [self.kwokctl, self.kwok, self.etcd, self.metrics_server]
        wanted += [self.kube_dir / i.rename for i in KUBE.spec.installs]
        return [p for p in wanted if not p.is_file()]


def binaries() -> Binaries:
    return Binaries(
        kwokctl=KWOK.spec.path("kwokctl"),
        kwok=KWOK.spec.path("kwok"),
        etcd=ETCD.spec.path("etcd"),
        kube_dir=KUBE.spec.bin_dir(),
        metrics_server=METRICS_SERVER.spec.path("metrics-server"),
    )


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise ToolError(
            "Go is not installed: chaosdrill builds kube-apiserver, etcd, kwok and metrics-server "
            "from source; install Go 1.26 or newer"
        )
    return go


def _go_env(**extra: str) -> dict[str, str]:
    flags = os.environ.get("GOFLAGS", "")
    if "-trimpath" not in flags.split():
        flags = f"{flags} -trimpath".strip()
    return dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS=flags, **extra)


def _nice() -> list[str]:
    # Builds share the machine with running drills and tests; keep them polite.
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


def _run(
    cmd: Sequence[str], *, cwd: Path, label: str, progress: Progress, env: dict[str, str] | None = None
) -> str:
    """Run a go command, printing a heartbeat while it works; ToolError with its log on failure."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*_nice(), *cmd], cwd=cwd, env=env or _go_env(), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        while True:
            try:
                rc = proc.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                progress(f"{label}: still working ({time.monotonic() - start:.0f}s)")
        log.seek(0)
        output = log.read()
    if rc != 0:
        raise ToolError(f"{label} failed (exit {rc}): {' '.join(cmd)}\n{output.strip()[-4000:]}")
    return output


def _go_mod_json(module: str, version: str, cwd: Path, progress: Progress) -> dict[str, Any]:
    """The module's own go.mod, as ``go mod edit -json`` sees it."""
    out = _run(
        [_go(), "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        label=f"download {module}@{version}",
        progress=progress,
    )
    info = json.loads(out[out.index("{") :])
    if info.get("Error"):
        raise ToolError(f"cannot fetch {module}@{version}: {info['Error']}")
    edited = _run(
        [_go(), "mod", "edit", "-json", info["GoMod"]], cwd=cwd, label="read go.mod", progress=progress
    )
    parsed: dict[str, Any] = json.loads(edited)
    return parsed


def staging_replacements(gomod: dict[str, Any], published: str) -> list[tuple[str, str]]:
    """``(path, published)`` for every ``k8s.io/* v0.0.0`` requirement in a ``go mod edit -json``."""
    return sorted(
        (req["Path"], published)
        for req in gomod.get("Require") or []
        if req["Path"].startswith("k8s.io/") and req["Version"] == "v0.0.0"
    )


def _write_wrapper(recipe: Recipe, wrapper: str, root: Path, progress: Progress) -> None:
    root.mkdir(parents=True, exist_ok=True)
    gomod = _go_mod_json(wrapper, recipe.spec.version, root, progress)
    lines = [f"module chaosdrill.local/{recipe.name}-wrapper", "", f"go {gomod.get('Go') or '1.26'}", ""]
    lines += [f"godebug {d['Key']}={d['Value']}" for d in gomod.get("GoDebug") or []]
    lines += ["", f"require {wrapper} {recipe.spec.version}", ""]
    if recipe.staging:
        replaces = staging_replacements(gomod, recipe.staging)
        if not replaces:
            raise ToolError(f"{wrapper}@{recipe.spec.version}: no k8s.io/* v0.0.0 requirements to replace")
        lines += ["replace ("] + [f"\t{path} => {path} {ver}" for path, ver in replaces] + [")", ""]
    (root / "go.mod").write_text("\n".join(lines), encoding="utf-8")
    imports = "\n".join(f'\t_ "{i.package}"' for i in recipe.spec.installs)
    (root / "tools.go").write_text(
        f"//go:build tools\n\n// Generated by chaosdrill: pins the commands to build.\npackage tools\n\n"
        f"import (\n{imports}\n)\n",
        encoding="utf-8",
    )
    _run([_go(), "mod", "tidy"], cwd=root, label=f"{recipe.name}: go mod tidy", progress=progress)


@contextmanager
def _tool_lock(recipe: Recipe) -> Iterator[None]:
    lock = recipe.spec.bin_dir().parent / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build(recipe: Recipe, progress: Progress) -> None:
    bin_dir = recipe.spec.bin_dir()
    bin_dir.mkdir(parents=True, exist_ok=True)
    ldflags = " ".join(("-s", "-w", *recipe.ldflags))
    with tempfile.TemporaryDirectory(prefix=f"chaosdrill-{recipe.name}-") as tmp:
        work = Path(tmp)
        if recipe.wrapper:
            work = bin_dir.parent / "wrapper"
            _write_wrapper(recipe, recipe.wrapper, work, progress)
        for inst in recipe.spec.installs:
            if inst.rename and (bin_dir / inst.rename).is_file():
                continue
            staged = bin_dir / f".{inst.rename}.tmp"
            start = time.monotonic()
            progress(f"building {inst.rename} from {inst.package}@{recipe.spec.version}")
            if recipe.wrapper:
                cmd = [_go(), "build", "-ldflags", ldflags, "-o", str(staged), inst.package]
                _run(cmd, cwd=work, label=f"build {inst.rename}", progress=progress)
            else:
                gobin = Path(tmp) / "gobin"
                gobin.mkdir(exist_ok=True)
                cmd = [_go(), "install", "-ldflags", ldflags, f"{inst.package}@{recipe.spec.version}"]
                env = _go_env(GOBIN=str(gobin))
                _run(cmd, cwd=gobin, label=f"go install {inst.rename}", progress=progress, env=env)
                shutil.copy2(gobin / inst.binary, staged)
            # Atomic rename: a concurrent reader never sees half a binary.
            staged.replace(bin_dir / inst.rename)
            progress(f"built {inst.rename} in {time.monotonic() - start:.0f}s")


def ensure(recipe: Recipe, progress: Progress) -> Path:
    """The recipe's bin dir, building whatever binary it lacks."""
    if recipe.spec.is_installed():
        progress(f"{recipe.name} {recipe.spec.version}: cached in {recipe.spec.bin_dir()}")
        return recipe.spec.bin_dir()
    with _tool_lock(recipe):
        if not recipe.spec.is_installed():  # another process may have built it meanwhile
            start = time.monotonic()
            _build(recipe, progress)
            progress(
                f"{recipe.name} {recipe.spec.version}: built into {recipe.spec.bin_dir()} "
                f"in {time.monotonic() - start:.0f}s"
            )
    return recipe.spec.bin_dir()


def install_all(progress: Progress) -> None:
    """Find or build kwok, kwokctl, metrics-server, etcd and the Kubernetes control plane."""
    for recipe in RECIPES:
        ensure(recipe, progress)
