"""Loading a benchmark script as a module, for tests of its pure parts (rows, sizes, environment).

The benchmarks are scripts run by ``make bench``, not an installed package, so tests load
them from their file.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["REPO", "load_benchmark"]

REPO = Path(__file__).resolve().parents[1]


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a fresh module (registered, so its dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}_under_test", REPO / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
