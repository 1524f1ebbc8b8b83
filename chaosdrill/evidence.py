"""What probes judge by: the run's load measurements, its fault history, and the
sandbox components' own accounts (breaker transitions, scaling events).

Probes anchor time on the ledger: "the breaker opened within 5 s of the fault" means
within 5 s of the moment the fault's record says it was injected, and "recovered"
means after the moment it was reverted.

The baseline is the load before the run's first fault: the measurement windows that ended
at or before the first fault's ledger timestamp (any kind: an earlier fault, such as
defences switched off, already changes what users see), optionally only the last
``baseline_s`` seconds of them (windows that began no earlier than that). A window that
straddles the injection is left out, so the baseline holds none of the fault.
"""

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from chaosdrill import runctx
from chaosdrill.errors import ActivityFailed
from chaosdrill.ledger import FaultRecord, default_ledger
from chaosdrill.ledger_legacy import kind_names
from chaosdrill.load.measurements import Summary, aggregate, inside, read_meta, read_windows

__all__ = [
    "Anchor",
    "baseline_bounds",
    "baseline_summary",
    "before_method",
    "fault_anchor",
    "faults",
    "measurements_file",
    "run_started",
    "summary",
    "window_bounds",
]


def before_method() -> bool:
    """True while the steady-state hypothesis runs before the method (see :mod:`chaosdrill.runctx`)."""
    return runctx.before_method()


def measurements_file() -> Path:
    path = runctx.measurements_path()
    if path is None or not path.exists():
        raise ActivityFailed(
            "no load measurements for this run: declare the chaosdrill.controls.load control in the experiment"
        )
    return path


def faults(kind: str | None = None) -> list[FaultRecord]:
    """This run's faults, oldest first, optionally of one kind (``latency``, ``blackhole``,
    ``pod_kill``, ...: the fault registry's names; the older names such as ``timeout`` still work)."""
    run_id = runctx.run_id()
    if not run_id:
        return []
    names = None if kind is None else kind_names(kind)
    return [r for r in default_ledger().of_run(run_id) if names is None or r.fault.kind in names]


@dataclass(frozen=True)
class Anchor:
    injected_at: float
    reverted_at: float | None
    description: str


def fault_anchor(kind: str | None = None) -> Anchor:
    """The latest fault of this run (of ``kind``), or ActivityFailed if there was none."""
    found = faults(kind)
    if not found:
        raise ActivityFailed(
            f"no {kind or ''} fault was injected in this run, so there is nothing to time against"
        )
    last = found[-1]
    return Anchor(last.fault.at, last.reverted_at, last.fault.description)


def run_started() -> float:
    """When this run's load started (its measurements' ``meta``), the start of window ``run``."""
    meta = read_meta(measurements_file())
    started = meta.get("started")
    if isinstance(started, int | float):
        return float(started)
    windows = read_windows(measurements_file())
    if not windows:
        raise ActivityFailed(
            "the load has written no measurements yet, so the run has no start to judge from"
        )
    return windows[0].t0


def window_bounds(window: str, kind: str | None = None) -> tuple[float | None, float | None]:
    """``run``: all of it; ``fault``: from injection to revert (or now); ``after``: since the revert."""
    if window == "run":
        return None, None
    anchor = fault_anchor(kind)
    if window == "fault":
        return anchor.injected_at, anchor.reverted_at
    if window == "after":
        if anchor.reverted_at is None:
            raise ActivityFailed(f"the fault ({anchor.description}) has not been reverted yet")
        return anchor.reverted_at, None
    raise ActivityFailed(f"window must be run, fault or after; got {window!r}")


def summary(
    window: str = "run",
    tenants: Collection[str] | None = None,
    streams: Collection[str] | None = None,
    fault_kind: str | None = None,
) -> Summary:
    since, until = window_bounds(window, fault_kind)
    return aggregate(
        read_windows(measurements_file()), since=since, until=until, streams=streams, tenants=tenants
    )


def baseline_bounds(baseline_s: float | None = None) -> tuple[float | None, float]:
    """``(since, until)`` of the baseline: until the run's first fault was injected (its ledger
    timestamp), since ``baseline_s`` before that (None: since the load started)."""
    found = faults()
    if not found:
        raise ActivityFailed("no fault was injected in this run, so there is no baseline before one")
    until = found[0].fault.at
    return (None if baseline_s is None else until - baseline_s), until


def baseline_summary(
    tenants: Collection[str] | None = None,
    streams: Collection[str] | None = None,
    baseline_s: float | None = None,
) -> Summary:
    """Totals over the baseline: the windows wholly before the run's first fault (see the module)."""
    since, until = baseline_bounds(baseline_s)
    chosen = inside(read_windows(measurements_file()), since, until)
    if not chosen:
        raise ActivityFailed(
            "the load wrote no complete measurement window before the first fault, so there is no "
            "baseline: give the load control a longer warmup_s"
        )
    return aggregate(chosen, streams=streams, tenants=tenants)
