"""Switch the gateway's defences off (and back on): a drill of "what if the breaker
were not there?". Turning a defence off is a fault: it is recorded in the ledger and
reverted on every exit path like any other."""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["disable_defences", "restore_defences"]


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
