"""Switch the gateway's defences off (and back on): a drill of "what if the breaker
were not there?". Turning a defence off is a fault: it is recorded in the ledger and
reverted on every exit path like any other."""

from chaoslib.types import Configuration, Secrets

from chaosdrill.activity import check_dc_allowed
from chaosdrill.targets import sandbox

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
    check_dc_allowed(dc, configuration)
    wanted = {"breaker": breaker, "fallback": fallback, "rate_limit": rate_limit}
    changes = {name: False for name, off in wanted.items() if off}
    from chaosdrill.errors import BadInput

    if not changes:
        raise BadInput("<argument>", "breaker/fallback/rate_limit", "name at least one defence to disable")
    return sandbox.set_defences(dc, changes, ttl_s=ttl_s)


def restore_defences(
    dc: str,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Restore the defences that ``disable_defences`` turned off on ``dc`` (idempotent)."""
    return sandbox.unset_defences(dc)
