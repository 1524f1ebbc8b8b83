"""A fault of "this run" in a private ledger, so fault-relative probes can be tested without a
sandbox or an injecting action.

``inject_fault`` is the one place that knows how ``chaosdrill.evidence.faults`` finds a run's
faults (the run id in the environment, the ledger under ``CHAOSDRILL_HOME``) and the shape of
the ledger's record: when the ``Fault`` record changes, adapt it here only.
"""

import time
import uuid
from pathlib import Path

import pytest

from chaosdrill.ledger import Fault, default_ledger

__all__ = ["inject_fault", "revert_fault"]


def inject_fault(
    monkeypatch: pytest.MonkeyPatch,
    home: Path,
    kind: str = "latency",
    description: str = "test fault",
    at: float | None = None,
) -> str:
    """Record a fault of ``kind`` injected ``at`` (now by default) for a fresh run in the method
    phase, with ``home`` as CHAOSDRILL_HOME; returns its id for :func:`revert_fault`."""
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CHAOSDRILL_HOME", str(home))
    monkeypatch.setenv("CHAOSDRILL_RUN_ID", run_id)
    monkeypatch.setenv("CHAOSDRILL_PHASE", "method")
    fault = Fault(
        kind=kind,
        target="sandbox",
        key=f"{kind}-{run_id}",
        description=description,
        undo={},
        run_id=run_id,
        at=time.time() if at is None else at,
    )
    default_ledger().record(fault)
    return fault.id


def revert_fault(fault_id: str) -> None:
    """Mark the fault reverted now (the ledger stamps the time)."""
    default_ledger().mark_reverted(fault_id)
