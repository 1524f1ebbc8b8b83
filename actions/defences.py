"""Switch defences off (and back on): the gateway's breaker, fallback and rate limit, the
autoscaler's decisions for a DC, the edge's health checks of a DC. A drill of "what if the
breaker were not there?". Turning a defence off is a fault: it is recorded in the ledger and
reverted on every exit path like any other."""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = [
    "disable_defences",
    "disable_health_checks",
    "pause_autoscaler",
    "restore_defences",
    "restore_health_checks",
    "resume_autoscaler",
]


def disable_defences(
    dc: str,
    breaker: bool = False,
    fallback: bool = False,
    rate_limit: bool = False,
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Turn off the named defences (those passed as true) on the ``dc`` gateway."""
    args = {"dc": dc, "breaker": breaker, "fallback": fallback, "rate_limit": rate_limit, "ttl_s": ttl_s}
    return faults.inject("defences_off", configuration, args)


def restore_defences(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Restore the defences that ``disable_defences`` turned off on ``dc`` (idempotent)."""
    return faults.remove("defences_off", configuration, {"dc": dc})


def pause_autoscaler(
    dc: str,
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Pause the sandbox autoscaler for the ``dc`` pools: no scaling until resumed."""
    return faults.inject("autoscaler_paused", configuration, {"dc": dc, "ttl_s": ttl_s})


def resume_autoscaler(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Resume the autoscaler for the ``dc`` pools that ``pause_autoscaler`` paused (idempotent)."""
    return faults.remove("autoscaler_paused", configuration, {"dc": dc})


def disable_health_checks(
    dc: str,
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Stop the edge's health checks of ``dc``: it stays marked healthy and is never failed over."""
    return faults.inject("health_checks_off", configuration, {"dc": dc, "ttl_s": ttl_s})


def restore_health_checks(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Restart the edge's health checks of ``dc`` that ``disable_health_checks`` stopped (idempotent)."""
    return faults.remove("health_checks_off", configuration, {"dc": dc})
