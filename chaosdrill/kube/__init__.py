"""The local Kubernetes control plane: building its pinned binaries and running it with kwokctl.

Kept apart from ``chaosdrill.drivers.kube`` on purpose: this package never talks to
the Kubernetes API (it only starts and stops processes), so it needs no Kubernetes client.
"""

__all__: list[str] = []
