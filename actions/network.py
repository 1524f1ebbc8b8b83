"""Connectivity faults on links: blackhole (timeout), connection resets, and cutting a link
outright. Link selection works as in ``actions.latency``."""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = [
    "add_blackhole",
    "add_reset_peer",
    "disable_links",
    "enable_links",
    "remove_blackhole",
    "remove_reset_peer",
]


def add_blackhole(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    timeout_ms: int = 0,
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Stop all data on the selected links (toxiproxy ``timeout``): the connection hangs,
    and is closed after ``timeout_ms`` (0 = never), as in a network partition."""
    args = {"dc": dc, "az": az, "link": link, "timeout_ms": timeout_ms, "ttl_s": ttl_s}
    return faults.inject("blackhole", configuration, args)


def remove_blackhole(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the blackhole added by ``add_blackhole`` (idempotent)."""
    return faults.remove("blackhole", configuration, {"dc": dc, "az": az, "link": link})


def add_reset_peer(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    timeout_ms: int = 0,
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Reset connections on the selected links (TCP RST) after ``timeout_ms``."""
    args = {"dc": dc, "az": az, "link": link, "timeout_ms": timeout_ms, "ttl_s": ttl_s}
    return faults.inject("reset_peer", configuration, args)


def remove_reset_peer(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the connection resets added by ``add_reset_peer`` (idempotent)."""
    return faults.remove("reset_peer", configuration, {"dc": dc, "az": az, "link": link})


def disable_links(
    dc: str = "*",
    az: str = "*",
    link: str = "redis",
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Cut the selected links: new connections are refused, open ones closed."""
    return faults.inject("link_cut", configuration, {"dc": dc, "az": az, "link": link, "ttl_s": ttl_s})


def enable_links(
    dc: str = "*",
    az: str = "*",
    link: str = "redis",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Re-enable links cut by ``disable_links`` (idempotent)."""
    return faults.remove("link_cut", configuration, {"dc": dc, "az": az, "link": link})
