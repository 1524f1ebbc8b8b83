"""Latency and bandwidth faults on sandbox links, through the real toxiproxy server.

Links are chosen by glob patterns on three names: the data center (``dc1``), the
availability zone (``az-a``) and the link (``replicas`` for gateway->replica pool,
``redis`` for gateway->Redis). An unknown link raises ``ActivityFailed`` naming it,
and nothing is injected.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill.activity import check_dc_allowed
from chaosdrill.errors import BadInput
from chaosdrill.targets import sandbox

__all__ = ["add_bandwidth_limit", "add_latency", "remove_bandwidth_limit", "remove_latency"]

LATENCY_TOXIC = "chaosdrill-latency"
BANDWIDTH_TOXIC = "chaosdrill-bandwidth"


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
    if latency_ms < 0 or jitter_ms < 0:
        raise BadInput("<argument>", "latency_ms/jitter_ms", "must be >= 0")
    check_dc_allowed(dc, configuration)
    return sandbox.add_toxic(
        dc, az, link, LATENCY_TOXIC, "latency", {"latency": latency_ms, "jitter": jitter_ms}, ttl_s=ttl_s
    )


def remove_latency(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the latency added by ``add_latency`` on the same links (idempotent)."""
    return sandbox.remove_toxic(dc, az, link, LATENCY_TOXIC)


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
    if rate_kb_s <= 0:
        raise BadInput("<argument>", "rate_kb_s", "must be > 0")
    check_dc_allowed(dc, configuration)
    return sandbox.add_toxic(dc, az, link, BANDWIDTH_TOXIC, "bandwidth", {"rate": rate_kb_s}, ttl_s=ttl_s)


def remove_bandwidth_limit(
    dc: str = "*",
    az: str = "*",
    link: str = "replicas",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Remove the bandwidth cap added by ``add_bandwidth_limit`` (idempotent)."""
    return sandbox.remove_toxic(dc, az, link, BANDWIDTH_TOXIC)
