"""`chaos discover chaosdrill` lists every exported action and probe, with its docs."""

import importlib
import json
import pkgutil
import subprocess
from pathlib import Path

import pytest
from chaos_run_support import CHAOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def exported() -> set[tuple[str, str, str]]:
    out = set()
    for kind, package in (("action", "actions"), ("probe", "probes")):
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{package}.{info.name}")
            out |= {(kind, mod.__name__, name) for name in mod.__all__}
    return out


def test_discover_lists_every_activity_with_docs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [CHAOS, "--no-version-check", "discover", "--no-system-info", "--no-install", "chaosdrill"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    discovery = json.loads((tmp_path / "discovery.json").read_text())
    found = {(a["type"], a["mod"], a["name"]) for a in discovery["activities"]}
    assert found == exported()
    assert len(found) >= 20
    for a in discovery["activities"]:
        assert a["doc"] and len(a["doc"].strip()) > 20, f"{a['mod']}.{a['name']} needs a docstring"
        names = [arg["name"] for arg in a["arguments"]]
        assert "configuration" not in names and "secrets" not in names
