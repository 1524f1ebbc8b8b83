"""One home per fault: the kinds (:mod:`chaosdrill.faults.kinds`), their registry, the engine
that injects, removes and reverts them, the blast-radius check and the cluster sweep.

Actions call :func:`inject` and :func:`remove` with their own arguments; ``chaosdrill
recover``, the guardrail and the TTL watchdog call :func:`revert` on ledger records.
"""

from chaosdrill.faults.engine import checked_ttl, inject, plan, record_and_apply, remove, revert, rollback

__all__ = ["checked_ttl", "inject", "plan", "record_and_apply", "remove", "revert", "rollback"]
