"""The drivers a fault kind reaches its target with, behind one object a test can replace.

Kinds never build clients themselves: ``plan`` and ``apply`` get them from ``env.drivers``
and ``undo`` from the ``drivers`` argument, so a unit test passes fakes (a sandbox driver
over a fake HTTP adapter, a Kubernetes client over a fake API) and runs the kind's real code.

Each driver is imported when it is first asked for, not with this module: the ledger control
imports the engine on every ``chaos run``, and the Kubernetes client alone costs ~0.2 s to
import (``make bench``'s run-overhead figure caught it). No cycle hides here: the drivers sit
below ``chaosdrill.faults`` and import nothing of it.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaosdrill.drivers.kube.client import KubeTarget
    from chaosdrill.drivers.sandbox import SandboxDriver
    from chaosdrill.drivers.system import SystemDriver
    from chaosdrill.drivers.toxiproxy import ToxiproxyClient
    from chaosdrill.load.control import LoadHandle

__all__ = ["Drivers"]


class Drivers:
    """The real drivers: the running sandbox, a checked Kubernetes client, the load worker."""

    def sandbox(self) -> "SandboxDriver":
        """The running sandbox (NotRunning if there is none)."""
        from chaosdrill.drivers.sandbox import SandboxDriver  # lazy: start-up time, see above

        return SandboxDriver.running()

    def sandbox_instance(self, instance: str) -> "SandboxDriver | None":
        """The sandbox instance a fault was recorded on, or None once it has gone."""
        from chaosdrill.drivers.sandbox import SandboxDriver  # lazy: start-up time

        return SandboxDriver.instance(instance)

    def system(self, configuration: Mapping[str, Any]) -> "SystemDriver":
        """The experiment's system file, as a driver (BadInput if it names none)."""
        from chaosdrill.drivers.system import SystemDriver  # lazy: start-up time

        return SystemDriver.of(configuration)

    def toxiproxy(self, api: str) -> "ToxiproxyClient":
        """A client for the toxiproxy at ``api`` (undoing a system's toxic needs no more)."""
        from chaosdrill.drivers.toxiproxy import ToxiproxyClient  # lazy: start-up time

        return ToxiproxyClient(api)

    def kube(self, configuration: Mapping[str, Any]) -> "KubeTarget":
        """A client for the experiment's checked context."""
        from chaosdrill.drivers.kube.client import connect  # lazy: the Kubernetes client is heavy

        return connect(configuration)

    def kube_at(self, kubeconfig: str | None, context: str) -> "KubeTarget":
        """A client for a recorded context, with no experiment (undo, recover)."""
        from chaosdrill.drivers.kube.client import connect_at  # lazy: the Kubernetes client is heavy

        return connect_at(kubeconfig, context)

    def load(self) -> "LoadHandle | None":
        """The load worker this run started, if it is running."""
        from chaosdrill.load import control as load_control  # lazy: start-up time

        return load_control.current()

    def load_streams(self) -> list[Mapping[str, Any]] | None:
        """The load's streams when they are known before it runs (preflight); None here."""
        return None
