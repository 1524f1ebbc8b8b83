"""Find or build the pinned binaries, in a per-user cache keyed by version.

Nothing is downloaded except Go modules through the Go module proxy: each tool is
built from source with the local Go toolchain, once per version, into
``$CHAOSDRILL_CACHE`` (default ``~/.cache/chaosdrill``)/tools/<name>/<version>/.
A second call finds the cached binaries and returns in milliseconds, which is what
makes ``make test`` and CI on the same machine fast after the first run.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaosdrill.errors import ToolError

__all__ = [
    "TOXIPROXY",
    "GoInstall",
    "ToolSpec",
    "cache_root",
    "ensure",
    "find_system_binary",
    "toxiproxy_server",
]

Progress = Callable[[str], None]


def cache_root() -> Path:
    """Where built tools live; outside any repo so clean clones reuse them."""
    env = os.environ.get("CHAOSDRILL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chaosdrill"


@dataclass(frozen=True)
class GoInstall:
    """One ``go install MODULE/CMD@VERSION``, with the binary renamed."""

    package: str
    binary: str  # the name go gives the binary (the last path element)
    rename: str  # the name it gets in the cache


@dataclass(frozen=True)
class ToolSpec:
    """A tool: its version and the go installs that produce its binaries."""

    name: str
    version: str
    installs: Sequence[GoInstall] = field(default_factory=tuple)

    def bin_dir(self) -> Path:
        return cache_root() / "tools" / self.name / self.version / "bin"

    def path(self, binary: str) -> Path:
        return self.bin_dir() / binary

    def is_installed(self) -> bool:
        return all(self.path(i.rename).is_file() for i in self.installs)


TOXIPROXY = ToolSpec(
    name="toxiproxy",
    version="v2.12.0",
    installs=(
        GoInstall("github.com/Shopify/toxiproxy/v2/cmd/server", "server", "toxiproxy-server"),
        GoInstall("github.com/Shopify/toxiproxy/v2/cmd/cli", "cli", "toxiproxy-cli"),
    ),
)


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise ToolError(
            "Go is not installed: chaosdrill builds its pinned tools from source with `go install`"
        )
    return go


def _go_install(spec: ToolSpec, progress: Progress) -> None:
    target = spec.bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"chaosdrill-{spec.name}-") as tmp:
        env = dict(os.environ, GOBIN=tmp, CGO_ENABLED="0", GOFLAGS="-trimpath")
        for inst in spec.installs:
            ref = f"{inst.package}@{spec.version}"
            progress(f"building {inst.rename} from {ref}")
            proc = subprocess.run(
                [_go(), "install", ref], env=env, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                raise ToolError(f"go install {ref} failed:\n{proc.stderr.strip()[-4000:]}")
            built = Path(tmp) / inst.binary
            # Rename into place atomically so a concurrent reader never sees half a binary.
            staged = target / f".{inst.rename}.tmp"
            shutil.copy2(built, staged)
            staged.replace(target / inst.rename)


def ensure(spec: ToolSpec, progress: Progress | None = None) -> Path:
    """Return the tool's bin dir, building it first if the cache lacks it."""
    say = progress or (lambda _msg: None)
    if spec.is_installed():
        say(f"{spec.name} {spec.version}: cached in {spec.bin_dir()}")
    else:
        _go_install(spec, say)
        say(f"{spec.name} {spec.version}: built into {spec.bin_dir()}")
    return spec.bin_dir()


def toxiproxy_server(progress: Progress | None = None) -> Path:
    return ensure(TOXIPROXY, progress) / "toxiproxy-server"


def find_system_binary(name: str, hint: str) -> Path:
    """A binary that comes from the OS (redis-server from apt), or a ToolError with ``hint``."""
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/bin") / name, Path("/usr/sbin") / name) if p.exists()), None
    )
    if found is None:
        raise ToolError(f"{name} not found; {hint}")
    return Path(found)
