"""Connectivity faults on sandbox links: blackhole (timeout), connection resets, and
cutting a link outright. Link selection works as in ``actions.latency``."""

from chaoslib.types import Configuration, Secrets

from chaosdrill.activity import check_dc_allowed
from chaosdrill.errors import BadInput
from chaosdrill.targets import sandbox

__all__ = [
    "add_blackhole",
    "add_reset_peer",
    "disable_links",
    "enable_links",
    "remove_blackhole",
    "remove_reset_peer",
]

BLACKHOLE_TOXIC = "chaosdrill-blackhole"
RESET_TOXIC = "chaosdrill-reset"


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
    if timeout_ms < 0:
        raise BadInput("<argument>", "timeout_ms", "must be >= 0")
    check_dc_allowed(dc, configuration)
    return sandbox.add_toxic(dc, az, link, BLACKHOLE_TOXIC, "timeout", {"timeout": timeout_ms}, ttl_s=ttl_s)


def remove_blackhole(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the blackhole added by ``add_blackhole`` (idempotent)."""
    return sandbox.remove_toxic(dc, az, link, BLACKHOLE_TOXIC)


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
    if timeout_ms < 0:
        raise BadInput("<argument>", "timeout_ms", "must be >= 0")
    check_dc_allowed(dc, configuration)
    return sandbox.add_toxic(dc, az, link, RESET_TOXIC, "reset_peer", {"timeout": timeout_ms}, ttl_s=ttl_s)


def remove_reset_peer(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the connection resets added by ``add_reset_peer`` (idempotent)."""
    return sandbox.remove_toxic(dc, az, link, RESET_TOXIC)


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
    check_dc_allowed(dc, configuration)
    return sandbox.set_links_enabled(dc, az, link, enabled=False, ttl_s=ttl_s)


def enable_links(
    dc: str = "*",
    az: str = "*",
    link: str = "redis",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Re-enable links cut by ``disable_links`` (idempotent)."""
    return sandbox.set_links_enabled(dc, az, link, enabled=True)
