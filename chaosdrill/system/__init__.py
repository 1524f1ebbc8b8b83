"""A system file: how chaosdrill reaches a team's own service (see docs/system-file.md).

The sandbox is one system among others; everything a drill needs to know about a target
(where to send load, which toxiproxy proxies are which links, where its Prometheus and
Alertmanager are, its Kubernetes context, and one PromQL query per defence) is read from
here, so a drill never needs code that knows one particular service.
"""

from chaosdrill.system.loader import SYSTEM_ENV, load_system, parse_system, system_of
from chaosdrill.system.model import KubernetesSettings, LinkMap, Mechanism, System, ToxiproxyServer

__all__ = [
    "SYSTEM_ENV",
    "KubernetesSettings",
    "LinkMap",
    "Mechanism",
    "System",
    "ToxiproxyServer",
    "load_system",
    "parse_system",
    "system_of",
]
