"""chaosdrill: chaos and disaster-recovery drills for an LLM inference API.

The package is also a Chaos Toolkit extension: ``chaos discover chaosdrill``
calls :func:`discover`, which lists every action and probe that the
``actions`` and ``probes`` packages export through ``__all__``.
"""

import importlib
import pkgutil
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "discover"]

ACTIVITY_PACKAGES = {"action": "actions", "probe": "probes"}


def discover(discover_system: bool = True) -> dict[str, Any]:
    """Describe chaosdrill's actions and probes for ``chaos discover``."""
    from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

    discovery: dict[str, Any] = initialize_discovery_result("chaosdrill", __version__, "chaosdrill")
    for kind, package_name in ACTIVITY_PACKAGES.items():
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            discovery["activities"].extend(discover_activities(f"{package_name}.{info.name}", kind))
    return discovery
