"""Latency and bandwidth faults on links, through the real toxiproxy server.

Links are chosen by glob patterns on three names: the data center (``dc1``), the
availability zone (``az-a``) and the link (``replicas`` for gateway->replica pool,
``redis`` for gateway->Redis). An unknown link raises ``ActivityFailed`` naming it,
and nothing is injected.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["add_bandwidth_limit", "add_latency", "remove_bandwidth_limit", "remove_latency"]


def add_latency(
    latency_ms: int,
    jitter_ms: int = 0,
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Add ``latency_ms`` (± ``jitter_ms``) to every response crossing the selected links.

    The fault is written to the ledger before it is applied and verified after; remove it
    with ``remove_latency`` using the same dc/az/link. ``ttl_s`` bounds its life even if
    the runner dies.
    """
    args = {
        "latency_ms": latency_ms,
        "jitter_ms": jitter_ms,
        "dc": dc,
        "az": az,
        "link": link,
        "ttl_s": ttl_s,
    }
    return faults.inject("latency", configuration, args)


def remove_latency(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the latency added by ``add_latency`` on the same links (idempotent)."""
    return faults.remove("latency", configuration, {"dc": dc, "az": az, "link": link})


def add_bandwidth_limit(
    rate_kb_s: int,
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Cap the selected links' downstream bandwidth at ``rate_kb_s`` KB/s."""
    args = {"rate_kb_s": rate_kb_s, "dc": dc, "az": az, "link": link, "ttl_s": ttl_s}
    return faults.inject("bandwidth", configuration, args)


def remove_bandwidth_limit(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the bandwidth cap added by ``add_bandwidth_limit`` (idempotent)."""
    return faults.remove("bandwidth", configuration, {"dc": dc, "az": az, "link": link})
