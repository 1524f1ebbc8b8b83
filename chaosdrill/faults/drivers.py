"""The drivers a fault kind reaches its target with, behind one object a test can replace.

Kinds never build clients themselves: ``plan`` and ``apply`` get them from ``env.drivers``
and ``undo`` from the ``drivers`` argument, so a unit test passes fakes (a sandbox driver
over a fake HTTP adapter, a Kubernetes client over a fake API) and runs the kind's real code.
"""

from collections.abc import Mapping
from typing import Any

from chaosdrill.drivers.kube.client import KubeTarget, connect, connect_at
from chaosdrill.drivers.sandbox import SandboxDriver
from chaosdrill.drivers.system import SystemDriver
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.load import control as load_control

__all__ = ["Drivers"]


class Drivers:
    """The real drivers: the running sandbox, a checked Kubernetes client, the load worker."""

    def sandbox(self) -> SandboxDriver:
        """The running sandbox (NotRunning if there is none)."""
        return SandboxDriver.running()

    def sandbox_instance(self, instance: str) -> SandboxDriver | None:
        """The sandbox instance a fault was recorded on, or None once it has gone."""
        return SandboxDriver.instance(instance)

    def system(self, configuration: Mapping[str, Any]) -> SystemDriver:
        """The experiment's system file, as a driver (BadInput if it names none)."""
        return SystemDriver.of(configuration)

    def toxiproxy(self, api: str) -> ToxiproxyClient:
        """A client for the toxiproxy at ``api`` (undoing a system's toxic needs no more)."""
        return ToxiproxyClient(api)

    def kube(self, configuration: Mapping[str, Any]) -> KubeTarget:
        """A client for the experiment's checked context."""
        return connect(configuration)

    def kube_at(self, kubeconfig: str | None, context: str) -> KubeTarget:
        """A client for a recorded context, with no experiment (undo, recover)."""
        return connect_at(kubeconfig, context)

    def load(self) -> load_control.LoadHandle | None:
        """The load worker this run started, if it is running."""
        return load_control.current()

    def load_streams(self) -> list[Mapping[str, Any]] | None:
        """The load's streams when they are known before it runs (preflight); None here."""
        return None
