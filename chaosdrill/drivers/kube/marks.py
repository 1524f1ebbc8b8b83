"""Fault marks: the label and annotation a Kubernetes fault leaves on every object it changes.

The ledger lives on the machine that ran the drill. When that machine is gone (a CI
runner recycled after a ``kill -9``), the cluster itself must say what was done to it and
how to undo it, so that ``chaosdrill recover --kube-context X`` run from anywhere finds
the fault and reverts it, and so that a fault's TTL is honoured by whoever sweeps next.

Each fault kind has a key of its own, ``fault.chaosdrill.io/<kind>``, used twice on an
object it changes:

- as a **label** whose value is the fault id, so one label-selector list per kind finds
  every marked object, even among 10,000 pods;
- as an **annotation** holding JSON: the fault id, its run, when it expires, and the
  object's own undo state (a node's previous ``unschedulable``, a Deployment's previous
  replica count...).

A mark travels in the same API call as the change it describes (a single patch), so
an object never carries the change without the mark. Reverting removes both. This module
is pure: it builds and reads metadata; the fault kinds do the calls.
"""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "MARK_PREFIX",
    "Mark",
    "MarkError",
    "MarkedObject",
    "mark_key",
    "read_mark",
    "strip_mark",
    "unmark_metadata",
]

MARK_PREFIX = "fault.chaosdrill.io/"


class MarkError(ValueError):
    """A mark that cannot be read (edited by hand, or torn): the sweep reports it and moves on."""


def mark_key(kind: str) -> str:
    """The label and annotation key for a fault kind: ``zone_outage`` -> ``fault.chaosdrill.io/zone-outage``."""
    return MARK_PREFIX + kind.replace("_", "-")


@dataclass(frozen=True)
class Mark:
    """What one fault did to one object, and how to undo it there."""

    kind: str
    fault_id: str
    run_id: str | None = None
    expires_at: float | None = None
    undo: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return mark_key(self.kind)

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (time.time() if now is None else now)

    def with_undo(self, **undo: Any) -> "Mark":
        return replace(self, undo=undo)

    def metadata(self) -> dict[str, Any]:
        """The metadata patch that puts this mark on an object."""
        body = {"id": self.fault_id, "run": self.run_id, "expires_at": self.expires_at, "undo": self.undo}
        return {
            "labels": {self.key: self.fault_id},
            "annotations": {self.key: json.dumps(body, sort_keys=True)},
        }


def unmark_metadata(kind: str) -> dict[str, Any]:
    """The metadata patch (a merge patch: null deletes) that takes a kind's mark off an object."""
    key = mark_key(kind)
    return {"labels": {key: None}, "annotations": {key: None}}


def strip_mark(metadata: dict[str, Any], kind: str) -> None:
    """Drop a kind's mark from metadata read from the API, in place (for full replaces)."""
    key = mark_key(kind)
    for part in ("labels", "annotations"):
        values = metadata.get(part)
        if isinstance(values, dict):
            values.pop(key, None)


def read_mark(kind: str, metadata: Mapping[str, Any]) -> Mark | None:
    """The kind's mark on an object (its raw JSON ``metadata``), or None if it has none.

    Raises :class:`MarkError` if the label is there but the annotation is missing or
    not what chaosdrill writes.
    """
    key = mark_key(kind)
    labels = metadata.get("labels") or {}
    raw = (metadata.get("annotations") or {}).get(key)
    if raw is None:
        if key in labels:
            raise MarkError(f"label {key}={labels[key]} has no annotation {key}")
        return None
    try:
        body = json.loads(raw)
        fault_id = body["id"]
        undo = body.get("undo", {})
        expires = body.get("expires_at")
        run = body.get("run")
        if not isinstance(fault_id, str) or not isinstance(undo, dict):
            raise TypeError("id must be a string and undo an object")
        return Mark(
            kind=kind,
            fault_id=fault_id,
            run_id=str(run) if run is not None else None,
            expires_at=float(expires) if expires is not None else None,
            undo=undo,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise MarkError(f"annotation {key} is not a chaosdrill mark: {e}") from e


@dataclass(frozen=True)
class MarkedObject:
    """One object a fault changed: what it is, where, and its mark."""

    object_kind: str  # Node, NetworkPolicy, Deployment, ConfigMap, Pod
    namespace: str
    name: str
    mark: Mark
