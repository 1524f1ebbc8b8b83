"""Drivers that reach a system, and the one path every fault takes through the ledger.

Each driver module (``toxiproxy``, ``sandbox``, ``kubernetes``) exposes
``revert(args: dict) -> None``, an idempotent undo that needs nothing but the args it
stored in the ledger, so ``chaosdrill recover`` can run it after the runner is gone.
"""

import importlib
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

from chaosdrill import runctx
from chaosdrill.errors import BadInput
from chaosdrill.ledger import Fault, Ledger, default_ledger

__all__ = [
    "Target",
    "checked_ttl",
    "current_run_id",
    "inject",
    "revert",
    "rollback",
    "target_of",
]

T = TypeVar("T")


class Target(Enum):
    SANDBOX = "sandbox"
    KUBERNETES = "kubernetes"


def target_of(configuration: Mapping[str, Any] | None) -> Target:
    """The engine an experiment drives, from ``configuration.chaosdrill_target``."""
    raw = (configuration or {}).get("chaosdrill_target", Target.SANDBOX.value)
    try:
        return Target(raw)
    except ValueError as e:
        choices = ", ".join(t.value for t in Target)
        raise BadInput(
            "<experiment>", "configuration.chaosdrill_target", f"{raw!r} is not one of {choices}"
        ) from e


def current_run_id() -> str | None:
    """The run the ledger control opened; faults recorded now belong to it."""
    return runctx.run_id()


def checked_ttl(ttl_s: float | None) -> float | None:
    """A fault's ``ttl_s`` argument, checked: None (no limit) or a positive number of seconds."""
    if ttl_s is None:
        return None
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not ttl_s > 0:
        raise BadInput("<experiment>", "ttl_s", f"must be a positive number of seconds, got {ttl_s!r}")
    return float(ttl_s)


def revert(fault: Fault) -> None:
    driver = importlib.import_module(f"chaosdrill.targets.{fault.driver}")
    driver.revert(fault.revert)


def inject(fault: Fault, apply: Callable[[], T], ledger: Ledger | None = None) -> T:
    """Record ``fault`` durably, then apply it; if applying fails, undo what may have landed.

    The fault is active in the ledger while ``apply`` runs, so a guardrail (another thread)
    or a TTL watchdog (another process) may revert it half-applied, and ``apply`` then goes
    on applying the rest. So once ``apply`` returns, a fault that was reverted meanwhile is
    reverted again: reverts are idempotent, and this one undoes whatever landed late.
    """
    led = ledger or default_ledger()
    if fault.run_id is None and current_run_id():
        fault = Fault(**{**fault.__dict__, "run_id": current_run_id()})
    led.record(fault)
    try:
        if fault.ttl_s is not None:  # no TTL without a watchdog: failing to start one fails the injection
            from chaosdrill import watchdog  # recorded first, so a watchdog exiting now still sees it

            watchdog.ensure_running(led.path)
        result = apply()
    except BaseException:
        try:
            revert(fault)
        finally:
            led.mark_reverted(fault.id, how="injection-failed")
        raise
    if led.is_reverted(fault.id):
        revert(fault)
    return result


def rollback(driver: str, key: str, ledger: Ledger | None = None) -> int:
    """Revert every active fault with this driver and key; returns how many were active.

    Only ledger entries are reverted here. The remove actions (``remove_latency`` and the
    like) undo the fault on the target directly first, so they also clean up a fault that
    no ledger entry describes, one injected by hand, say.
    """
    led = ledger or default_ledger()
    active = led.active(driver=driver, key=key)
    for fault in active:
        revert(fault)
        led.mark_reverted(fault.id)
    return len(active)
