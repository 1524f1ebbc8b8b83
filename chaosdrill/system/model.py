"""The typed system file. Built only by :mod:`chaosdrill.system.loader`, after its schema."""

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaosdrill.errors import BadInput

__all__ = [
    "MECHANISMS",
    "HeaderNames",
    "KubernetesSettings",
    "LinkMap",
    "Mechanism",
    "SessionPaths",
    "System",
    "ToxiproxyServer",
]

MECHANISMS = (
    "breaker_open",
    "fallback_served",
    "rate_limited",
    "ready_replicas",
    "cache_bypassed",
    "dc_healthy",
)
# Only these three tokens are placeholders: PromQL itself is full of braces.
PLACEHOLDER = re.compile(r"\{(dc|pool|tenant)\}")


@dataclass(frozen=True)
class LinkMap:
    """The names experiments use for a link (dc, az, link) and the proxies (globs) behind it."""

    dc: str
    az: str
    link: str
    proxies: tuple[str, ...]
    health_path: str | None = None


@dataclass(frozen=True)
class ToxiproxyServer:
    api: str
    links: tuple[LinkMap, ...]


@dataclass(frozen=True)
class KubernetesSettings:
    context: str
    kubeconfig: str | None = None
    namespaces: tuple[str, ...] | None = None
    zone_label: str = "topology.kubernetes.io/zone"
    dc_label: str = "chaosdrill.io/datacenter"


def _promql_string(value: str) -> str:
    """``value`` safe inside a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Mechanism:
    """One defence's PromQL query, with the labels (dc, pool, tenant) it is filled with."""

    name: str
    query: str
    labels: tuple[str, ...] = ()

    def render(self, **values: str) -> str:
        """The query with its placeholders filled; BadInput names a missing or unknown label."""
        unknown = sorted(set(values) - set(self.labels))
        if unknown:
            raise BadInput(
                "<argument>", unknown[0], f"mechanism {self.name} takes {list(self.labels) or 'no labels'}"
            )
        missing = [label for label in self.labels if not values.get(label)]
        if missing:
            raise BadInput("<argument>", missing[0], f"mechanism {self.name} needs it")
        return PLACEHOLDER.sub(lambda m: _promql_string(values[m.group(1)]), self.query)


@dataclass(frozen=True)
class HeaderNames:
    """The system file's ``headers``: which response header names the DC that served an
    answer (``served_by``) and the user's home cell (``cell``); which request header carries a
    session write's sequence number (``seq``) and which response header acknowledges it
    (``seq_ack``, whose value is the sequence number stored). ``seq`` and ``seq_ack`` come
    together: a write nobody acknowledges cannot be found missing."""

    served_by: str | None = None
    cell: str | None = None
    seq: str | None = None
    seq_ack: str | None = None


@dataclass(frozen=True)
class SessionPaths:
    """The system file's ``session``: where a user's latest acknowledged sequence number is
    read back (``read_path``, with ``{user}``; the answer is JSON with ``seq``), and the path
    the writes go through (``write_path``, informative: any request carrying the seq header
    writes)."""

    read_path: str
    write_path: str | None = None

    def read_path_for(self, user: str) -> str:
        """``read_path`` with ``{user}`` filled in, percent-encoded as one path segment."""
        return self.read_path.replace("{user}", urllib.parse.quote(user, safe=""))


@dataclass(frozen=True)
class System:
    path: str
    name: str
    # Checked by the schema here and typed by the load generator, which owns request templates.
    endpoints: Mapping[str, Any]
    toxiproxy: tuple[ToxiproxyServer, ...] = ()
    # ``{url, auth, verify_tls}``: credentials are resolved only when a probe connects.
    prometheus: Mapping[str, Any] | None = None
    alertmanager: Mapping[str, Any] | None = None
    kubernetes: KubernetesSettings | None = None
    mechanisms: Mapping[str, Mechanism] = field(default_factory=dict)
    notifications: str | None = None  # where the webhook receiver records notifications
    headers: HeaderNames | None = None
    session: SessionPaths | None = None

    def mechanism(self, name: str) -> Mechanism | None:
        return self.mechanisms.get(name)
