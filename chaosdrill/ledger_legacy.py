"""Ledger records written before faults had one home, read as today's records.

Until the fault registry, an ``inject`` record named a driver module (``sandbox``,
``kubernetes``, ``load``) and an operation inside that module's revert switch
(``revert.op``). Today a record names a fault kind and a target, and keeps the undo state
without the ``op``. The alias table below maps the one onto the other, so ``chaosdrill
recover`` on a machine upgraded mid-drill still reverts what the older code recorded.
Every undo state kept its shape; only the names changed.
"""

from typing import Any

__all__ = ["KIND_NAMES", "kind_names", "upgrade"]

# The ``fault_kind`` names experiments could give probes before the registry (the toxic type or
# the driver's own word), and the kinds they name today.
KIND_NAMES: dict[str, tuple[str, ...]] = {
    "timeout": ("blackhole", "zone_partition"),
    "kill": ("pod_kill",),
    "disable": ("link_cut",),
    "defences": ("defences_off",),
    "dc_outage": ("dc_failover",),
    "cpu_surge": ("surge",),
}


def kind_names(name: str) -> tuple[str, ...]:
    """The registry kinds a probe's ``fault_kind`` means: itself, or what an older name meant."""
    return KIND_NAMES.get(name, (name,))


# A sandbox toxic's kind, by the toxic name the older actions gave it.
_TOXICS = {
    "chaosdrill-latency": "latency",
    "chaosdrill-bandwidth": "bandwidth",
    "chaosdrill-blackhole": "blackhole",
    "chaosdrill-reset": "reset_peer",
    "chaosdrill-partition": "zone_partition",
}
# ... or, for a toxic with another name, by its toxiproxy type (the record's ``kind``).
_TOXIC_TYPES = {
    "latency": "latency",
    "bandwidth": "bandwidth",
    "timeout": "blackhole",
    "reset_peer": "reset_peer",
}

# (driver, revert.op) -> (kind, target)
ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("sandbox", "enable_proxies"): ("link_cut", "sandbox"),
    ("sandbox", "set_defences"): ("defences_off", "sandbox"),
    ("sandbox", "none"): ("pod_kill", "sandbox"),
    ("sandbox", "release_hold"): ("zone_outage", "sandbox"),
    ("sandbox", "start_gateway"): ("dc_failover", "sandbox"),
    ("kubernetes", "none"): ("pod_kill", "kubernetes"),
    ("kubernetes", "zone_outage"): ("zone_outage", "kubernetes"),
    ("kubernetes", "zone_partition"): ("zone_partition", "kubernetes"),
    ("kubernetes", "dc_failover"): ("dc_failover", "kubernetes"),
    ("kubernetes", "cpu_surge"): ("surge", "kubernetes"),
    ("load", ""): ("surge", "sandbox"),
}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """An ``inject`` record's fields (``op`` removed) as today's :class:`Fault` takes them."""
    if "driver" not in record:
        return record
    old = dict(record)
    driver, revert = str(old.pop("driver")), dict(old.pop("revert") or {})
    op = str(revert.pop("op", ""))
    if (driver, op) == ("sandbox", "remove_toxic"):
        toxic = str(revert.get("toxic", ""))
        kind = _TOXICS.get(toxic) or _TOXIC_TYPES.get(str(old.get("kind")), "latency")
        target = "sandbox"
    else:
        kind, target = ALIASES.get((driver, op), (f"unknown:{driver}/{op}", driver))
    return {**old, "kind": kind, "target": target, "undo": revert}
