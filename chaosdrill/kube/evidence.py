"""What a failed or troubled ``cluster up`` leaves behind: every component's log, copied to a
folder that ``cluster down`` never deletes.

kwokctl writes each component's output to ``<cluster>/logs/<component>.log`` and deletes the
whole ``<cluster>`` folder with the cluster; it also truncates a component's log when it
starts the component again. So before a failed start is torn down, and before a dead
component is restarted, its logs are copied here: ``<home>/cluster/evidence/<when>-<why>/``.
Only the newest :data:`KEEP` folders are kept.
"""

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COMPONENTS", "KEEP", "Kept", "keep"]

# The log (and pid) name of each component of kwokctl's binary runtime, in start order.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "metrics-server",
)
KEEP = 10


@dataclass(frozen=True)
class Kept:
    """A folder of kept logs: the files in it, and the components that left no log."""

    folder: Path
    files: tuple[str, ...]
    missing: tuple[str, ...]

    def describe(self) -> str:
        """One line for an error or progress message, naming the folder and every file."""
        line = f"logs kept in {self.folder}: {', '.join(self.files) or 'none'}"
        if self.missing:
            line += f" (no log from {', '.join(self.missing)}: never started)"
        return line


def keep(
    logs: Path,
    root: Path,
    why: str,
    notes: Mapping[str, str] | None = None,
    only: tuple[str, ...] | None = None,
) -> Kept:
    """Copy the components' logs from ``logs`` (all of them, or ``only`` those) and ``notes``
    (file name -> text: kwokctl's output, what was seen) into a new folder under ``root``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = root / f"{stamp}-{os.getpid()}-{why}"
    n = 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{os.getpid()}-{why}-{n}"
    folder.mkdir(parents=True)
    wanted = only or COMPONENTS
    files: list[str] = []
    missing: list[str] = []
    for name in wanted:
        source = logs / f"{name}.log"
        if source.is_file():
            shutil.copy2(source, folder / source.name)
            files.append(source.name)
        else:
            missing.append(name)
    if only is None and logs.is_dir():  # anything else kwokctl logged (an audit log, say)
        for source in sorted(logs.glob("*.log")):
            if source.name not in files:
                shutil.copy2(source, folder / source.name)
                files.append(source.name)
    for name, text in (notes or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
        files.append(name)
    _prune(root)
    return Kept(folder, tuple(files), tuple(missing))


def _prune(root: Path) -> None:
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in folders[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
