"""The one path every fault takes: plan, blast-radius check, ledger, apply, verify; and back.

``inject`` looks the kind up in the registry by name and target, plans it (touching
nothing), checks the plan against the experiment's blast radius, records the fault
durably, then applies it. ``remove`` is the rollback action's half: it closes the ledger
entries with the kind's key and clears what the kind finds on the target. ``revert`` undoes
one recorded fault from its ledger state alone, which is what ``chaosdrill recover``, the
guardrail and the TTL watchdog call.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chaosdrill import runctx, watchdog
from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.target import Target, target_of
from chaosdrill.errors import BadInput
from chaosdrill.faults import blast, registry
from chaosdrill.faults.drivers import Drivers
from chaosdrill.faults.kind import Env, FaultKind, Plan
from chaosdrill.ledger import Fault, Ledger, default_ledger

__all__ = ["checked_ttl", "env_for", "inject", "plan", "record_and_apply", "remove", "revert", "rollback"]

T = TypeVar("T")


def checked_ttl(ttl_s: float | None) -> float | None:
    """A fault's ``ttl_s`` argument, checked: None (no limit) or a positive number of seconds."""
    if ttl_s is None:
        return None
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not ttl_s > 0:
        raise BadInput("<experiment>", "ttl_s", f"must be a positive number of seconds, got {ttl_s!r}")
    return float(ttl_s)


def env_for(configuration: Mapping[str, Any] | None, drivers: Any = None) -> Env:
    """The environment an experiment's faults run in."""
    conf = dict(configuration or {})
    return Env(conf, target_of(conf), drivers if drivers is not None else Drivers())


def plan(
    name: str, configuration: Mapping[str, Any] | None, args: Mapping[str, Any], drivers: Any = None
) -> Plan:
    """What fault ``name`` would touch with ``args``, touching nothing (preflight's view)."""
    env = env_for(configuration, drivers)
    return registry.lookup(name, env.target).plan(env, args)


def inject(
    name: str,
    configuration: Mapping[str, Any] | None,
    args: Mapping[str, Any],
    *,
    drivers: Any = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """Inject fault ``name`` on the experiment's target; returns the kind's result and ``fault_id``.

    Refused before anything is recorded if the arguments are bad, the target has no such
    kind, the plan reaches past the blast radius, or it would make more faults active at
    once (every active entry of the ledger, any run, any target) than
    ``chaosdrill_max_concurrent_faults`` allows. (The count and the record are two steps:
    two injections racing in parallel branches may both pass; a drill's method is sequential.)
    """
    env = env_for(configuration, drivers)
    kind = registry.lookup(name, env.target)
    ttl_s = checked_ttl(args.get("ttl_s"))
    if ttl_s is not None and not kind.takes_ttl:
        raise BadInput(
            "<argument>", "ttl_s", f"{name} on {env.target.value} ends on its own; it takes no ttl_s"
        )
    planned = kind.plan(env, args)
    blast.check(planned, env.configuration)
    led = ledger or default_ledger()
    if blast.max_concurrent_faults(env.configuration) is not None:
        active = [f"{f.kind} {f.key} ({f.id})" for f in led.active()]
        blast.check_concurrency(env.configuration, active, f"{name} {planned.key}")
    fault = Fault(
        kind=kind.name,
        target=env.target.value,
        key=planned.key,
        description=planned.description,
        undo=dict(planned.undo),
        ttl_s=ttl_s,
        run_id=runctx.run_id(),
    )
    mark = Mark(kind=kind.mark_kind, fault_id=fault.id, run_id=fault.run_id, expires_at=fault.expires_at)
    result = record_and_apply(fault, lambda: kind.apply(env, planned, mark), led, drivers)
    if kind.instant:  # nothing to undo (the ReplicaSet or supervisor is the undo): close it at once
        led.mark_reverted(fault.id, how="instant")
    return {"fault_id": fault.id, **result}


def record_and_apply(
    fault: Fault, apply: Callable[[], T], ledger: Ledger | None = None, drivers: Any = None
) -> T:
    """Record ``fault`` durably, then apply it; if applying fails, undo what may have landed.

    The fault is active in the ledger while ``apply`` runs, so a guardrail (another thread)
    or a TTL watchdog (another process) may revert it half-applied, and ``apply`` then goes
    on applying the rest. So once ``apply`` returns, a fault that was reverted meanwhile is
    reverted again: reverts are idempotent, and this one undoes whatever landed late.
    """
    led = ledger or default_ledger()
    led.record(fault)
    try:
        if fault.ttl_s is not None:  # no TTL without a watchdog: failing to start one fails the injection
            watchdog.ensure_running(led.path)  # recorded first, so a watchdog exiting now still sees it
        result = apply()
    except BaseException:
        try:
            revert(fault, drivers)
        finally:
            led.mark_reverted(fault.id, how="injection-failed")
        raise
    if led.is_reverted(fault.id):
        revert(fault, drivers)
    return result


def revert(fault: Fault, drivers: Any = None) -> None:
    """Undo one recorded fault from its ledger state alone (idempotent)."""
    kind = _kind_of(fault)
    kind.undo(drivers if drivers is not None else Drivers(), fault.undo)


def _kind_of(fault: Fault) -> FaultKind:
    try:
        target = Target(fault.target)
    except ValueError as e:
        raise BadInput("<ledger>", "target", f"fault {fault.id}: unknown target {fault.target!r}") from e
    return registry.lookup(fault.kind, target)


def rollback(kind: str, target: str, key: str, ledger: Ledger | None = None, drivers: Any = None) -> int:
    """Revert every active fault of this kind, target and key, newest first (each undo state
    holds what was there before it, so stacked faults unwind in reverse); returns how many."""
    led = ledger or default_ledger()
    active = led.active(kind=kind, target=target, key=key)
    for fault in reversed(active):
        revert(fault, drivers)
        led.mark_reverted(fault.id)
    return len(active)


def remove(
    name: str,
    configuration: Mapping[str, Any] | None,
    args: Mapping[str, Any],
    *,
    drivers: Any = None,
    ledger: Ledger | None = None,
) -> dict[str, Any]:
    """The rollback action: close the ledger entries the same arguments made, then clear the
    target of the kind's own leftovers (applied by hand, or by a lost ledger). Idempotent."""
    env = env_for(configuration, drivers)
    kind = registry.lookup(name, env.target)
    key = kind.key(env, args)
    closed = rollback(kind.name, env.target.value, key, ledger, env.drivers)
    return {"ledger_entries_closed": closed, **kind.clear(env, args)}
