"""What a fault kind is: a plan of what it would touch, how it is applied and verified, and
how it is undone from the ledger alone. Each kind lives in one module of
:mod:`chaosdrill.faults.kinds`, which lists it in its ``KINDS``; :mod:`chaosdrill.faults.registry`
finds it there under a stable name.

The ledger records that name (``latency``, ``zone_outage``), never a module path, so a
ledger written today is recoverable by tomorrow's code; ``chaosdrill.ledger`` keeps an alias
table for records written before kinds had names.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from chaosdrill.drivers.kube.marks import Mark, MarkedObject
from chaosdrill.drivers.target import Target

__all__ = ["Env", "FaultKind", "Plan", "Share"]


@dataclass(frozen=True)
class Share:
    """``n`` of ``total`` matching replicas or pods: what the blast-radius cap is checked on."""

    n: int
    total: int


@dataclass(frozen=True)
class Plan:
    """What one injection would touch, worked out before anything is touched.

    ``undo`` is what the ledger keeps to undo the fault with no experiment at hand; ``work``
    holds what ``apply`` needs and the ledger does not (the exact victims, say). Preflight
    shows ``touches`` and ``details``; the engine checks ``dcs``, ``namespaces`` and ``share``
    against the experiment's blast-radius settings before recording anything.
    """

    key: str
    description: str
    undo: Mapping[str, Any]  # each kind's own TypedDict: what its ``undo`` reads back
    touches: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    dc_selector: str = ""  # the DC pattern as the experiment gave it
    dcs: tuple[str, ...] = ()  # the DCs it selects
    namespaces: tuple[str, ...] = ()
    share: Share | None = None
    work: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Env:
    """Where a fault runs: the experiment's configuration, its target, and the drivers."""

    configuration: Mapping[str, Any]
    target: Target
    drivers: Any  # chaosdrill.faults.drivers.Drivers, or a test's fake of it


class FaultKind(ABC):
    """One fault kind on the targets it supports.

    Subclasses set ``name`` (recorded in the ledger), ``targets`` and ``activities`` (the
    ``actions.module.func`` names that inject or remove it, for preflight), and implement
    ``key``, ``plan``, ``apply`` and ``undo``. A Kubernetes kind that marks objects also
    names the object kinds it marks and rebuilds its undo state from their marks.
    """

    name: ClassVar[str]
    targets: ClassVar[tuple[Target, ...]]
    activities: ClassVar[Mapping[str, str]] = {}  # "actions.x.y" -> "inject" | "remove"
    takes_ttl: ClassVar[bool] = True
    instant: ClassVar[bool] = False  # nothing to undo once applied (a kill): its entry closes at once
    marks: ClassVar[tuple[str, ...]] = ()  # Kubernetes object kinds carrying this kind's mark
    mark_name: ClassVar[str] = ""  # the mark's key, when it differs from ``name``

    @property
    def mark_kind(self) -> str:
        return self.mark_name or self.name

    @abstractmethod
    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        """The fault's identity from its arguments alone: a remove with the same arguments
        closes the ledger entries with this key."""

    @abstractmethod
    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        """What the fault would touch; reads the target, changes nothing."""

    @abstractmethod
    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        """Apply the planned fault and verify it took (``FaultNotApplied`` otherwise)."""

    @abstractmethod
    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        """Undo the fault from its ledger state alone; idempotent, a no-op once nothing is left."""

    def plan_remove(self, env: Env, args: Mapping[str, Any]) -> Plan:
        """What the remove action would touch (preflight): the ledger entries with this key."""
        key = self.key(env, args)
        return Plan(
            key=key,
            description=f"undo {self.name}",
            undo={},
            touches=(f"undo every active {self.name} {key}",),
        )

    def clear(self, env: Env, args: Mapping[str, Any]) -> dict[str, Any]:
        """The remove action's own cleanup on the target, past the ledger's entries: a fault
        applied by hand or recorded in a lost ledger. Nothing by default."""
        return {}

    def undo_from_marks(self, objects: Sequence[MarkedObject]) -> dict[str, Any]:
        """The undo state the ledger would hold, rebuilt from the marks on the cluster."""
        raise NotImplementedError(f"{self.name} leaves no marks")
