"""Recovery objectives of a DC loss, measured on the load as users saw them: RTO, RPO, the
unaffected cells' SLO, and failback.

They read the windows of a load that tracks placement (the system file's ``headers``: the
serving DC and the user's home cell) and, for the RPO, a session stream (``session: true``,
per-user sequence numbers read back through the system file's ``session.read_path``); see
docs/recovery-objectives.md. Time is anchored on the fault's ledger record (injection and
revert). The affected cells are, unless given, those the lost DC served before the fault.
Each probe returns its numbers under a ``mechanism`` name, and raises ``ActivityFailed``
with the measured values when a bound is missed.
"""

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence, telemetry
from chaosdrill.errors import ChaosdrillError
from chaosdrill.load import objectives as obj
from chaosdrill.load.measurements import Window, read_meta, read_windows

__all__ = ["failback_after", "rpo_within", "rto_within", "unaffected_cells_keep_slo"]

_SKIP = {"ok": True, "skipped": "before the method: no fault to judge yet"}


def _windows() -> list[Window]:
    return read_windows(evidence.measurements_file())


def _affected(windows: list[Window], dc: str, before: float, cells: list[str] | None) -> list[str]:
    if cells:
        return list(cells)
    seen = obj.cells_seen(windows)
    if not seen:
        raise ActivityFailed(
            "the load counted no home cells: its profile needs tracking.cell (the system file's "
            "headers.cell) and the service must answer it"
        )
    found = obj.home_cells_of(windows, dc, before)
    if not found:
        raise ActivityFailed(
            f"no cell was served by {dc} before the fault, so none is affected by its loss (cells seen: {sorted(seen)})"
        )
    return found


def rto_within(
    dc: str,
    max_rto_s: float = 30.0,
    target: float = 0.995,
    consecutive: int = 3,
    cells: list[str] | None = None,
    min_requests: int = 1,
    fault_kind: str = "dc_failover",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the cells that ``dc`` served were served again, as users saw it, within
    ``max_rto_s`` of the fault: their good ratio at or above ``target`` in ``consecutive``
    windows in a row (each with at least ``min_requests`` answers), while the fault was still
    on. Returns ``rto_s`` (window resolution) and the affected cells."""
    if evidence.before_method():
        return dict(_SKIP)
    anchor = evidence.fault_anchor(fault_kind)
    windows = _windows()
    affected = _affected(windows, dc, anchor.injected_at, cells)
    points = obj.cell_series(windows, affected)
    rto = obj.time_to_recover(
        points, anchor.injected_at, target, consecutive, until=anchor.reverted_at, min_requests=min_requests
    )
    during = [
        p
        for p in points
        if p.t1 > anchor.injected_at and (anchor.reverted_at is None or p.t1 <= anchor.reverted_at)
    ]
    ratios = [p.ratio for p in during if p.ratio is not None]
    recovered_at = None if rto is None else anchor.injected_at + rto
    dips = [
        p
        for p in during
        if recovered_at is not None and p.t0 >= recovered_at and p.ratio is not None and p.ratio < target
    ]
    measured = {
        "mechanism": "rto",
        "dc": dc,
        "cells": affected,
        "rto_s": rto,
        "max_rto_s": max_rto_s,
        "worst_ratio": min(ratios, default=None),
        "windows": len(during),
        # Windows below the target after the recovery, while the fault was still on: blips the
        # RTO does not count (the SLO probes judge them).
        "dips_after_recovery": len(dips),
    }
    if rto is None:
        what = "before the fault was reverted" if anchor.reverted_at is not None else "so far"
        raise ActivityFailed(
            f"cells {affected} of {dc} were not served at {target:.2%} for {consecutive} windows in a row "
            f"{what} ({anchor.description}): {measured}"
        )
    if rto > max_rto_s:
        raise ActivityFailed(
            f"cells {affected} of {dc} were served again after {rto:.2f}s, beyond the RTO of {max_rto_s:g}s: {measured}"
        )
    return {"ok": True, **measured}


def _verify_sessions(timeout_s: float) -> dict[str, Any]:
    """Ask the running load to read every session user back, and wait for the reads."""
    from chaosdrill.load import control  # lazy: the load's control stack imports aiohttp

    handle = control.current()
    if handle is None:
        return {"verified": False, "reason": "no load running: judged by the read-backs already made"}
    try:
        handle.verify()
        deadline = time.monotonic() + timeout_s
        status: dict[str, Any] = handle.status().get("session", {})
        while status.get("pending_reads", 0) and time.monotonic() < deadline:
            time.sleep(0.1)
            status = handle.status().get("session", {})
    except ChaosdrillError as e:
        raise ActivityFailed(f"the load could not read its sessions back: {e}") from e
    # The last read-backs are counted in a window that closes up to one window later.
    window_s = read_meta(evidence.measurements_file()).get("window_s")
    time.sleep((float(window_s) if isinstance(window_s, int | float) else 1.0) + 0.2)
    return {"verified": True, "pending_reads": int(status.get("pending_reads", 0))}


def rpo_within(
    max_lost_writes: int = 0,
    max_rpo_s: float = 1.0,
    window: str = "run",
    verify: bool = True,
    verify_timeout_s: float = 10.0,
    fault_kind: str = "dc_failover",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert at most ``max_lost_writes`` acknowledged writes were lost, spanning at most
    ``max_rpo_s`` seconds of data (first lost acknowledgement to the last), as found by the
    session stream's read-backs in ``window`` (run, fault or after). With ``verify`` every
    session user is first read back once more (each before its next write). Returns
    ``rpo_writes`` and ``rpo_s``."""
    if evidence.before_method():
        return dict(_SKIP)
    check = _verify_sessions(verify_timeout_s) if verify else {"verified": False}
    since, until = evidence.window_bounds(window, fault_kind)
    found = obj.lost_writes(_windows(), since, until)
    if not found.session_windows:
        raise ActivityFailed(
            "the load ran no session stream: give a stream session: true and the system file's "
            "headers.seq, headers.seq_ack and session.read_path"
        )
    measured = {
        "mechanism": "rpo",
        "rpo_writes": found.lost,
        "rpo_s": found.rpo_s,
        "max_lost_writes": max_lost_writes,
        "max_rpo_s": max_rpo_s,
        "acked_writes": found.acked,
        "reads": found.reads,
        "reads_failed": found.read_failed,
        "lost_by_cell": found.by("cell"),
        "lost_acked_by": found.by("acked_by"),
        **check,
    }
    if check.get("pending_reads"):
        raise ActivityFailed(
            f"{check['pending_reads']} session users could not be read back, so their losses are unknown: {measured}"
        )
    if found.lost > max_lost_writes or found.rpo_s > max_rpo_s:
        raise ActivityFailed(
            f"{found.lost} acknowledged writes lost spanning {found.rpo_s:.3f}s of data, beyond the RPO of "
            f"{max_lost_writes} writes and {max_rpo_s:g}s: {measured}"
        )
    return {"ok": True, **measured}


def unaffected_cells_keep_slo(
    dc: str,
    target: float = 0.995,
    window: str = "fault",
    cells: list[str] | None = None,
    fault_kind: str = "dc_failover",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert every cell that ``dc`` did not serve kept its availability at or above
    ``target`` over ``window`` (run, fault or after): losing a DC must not spill over.
    ``cells`` names the affected cells (default: those ``dc`` served before the fault)."""
    if evidence.before_method():
        return dict(_SKIP)
    anchor = evidence.fault_anchor(fault_kind)
    windows = _windows()
    affected = set(_affected(windows, dc, anchor.injected_at, cells))
    since, until = evidence.window_bounds(window, fault_kind)
    counts = obj.cell_availability(windows, since, until)
    others = {c: v for c, v in counts.items() if c not in affected and c not in obj.NOT_CELLS}
    if not others:
        raise ActivityFailed(f"no answers from a cell other than {sorted(affected)} in window {window!r}")
    ratios = {c: (g / (g + e) if g + e else None) for c, (g, e) in others.items()}
    below = {c: r for c, r in ratios.items() if r is not None and r < target}
    measured = {
        "mechanism": "unaffected_cells",
        "dc": dc,
        "affected": sorted(affected),
        "cells": ratios,
        "target": target,
        "unknown_cell_errors": counts.get("<unknown>", (0, 0))[1],
    }
    if below:
        raise ActivityFailed(
            f"cells {sorted(below)} not affected by the loss of {dc} fell below {target:.2%}: {measured}"
        )
    return {"ok": True, **measured}


def _back_at(
    dc: str, anchor: evidence.Anchor, configuration: Configuration | None, secrets: Secrets | None
) -> tuple[float, str]:
    """When ``dc`` was healthy again after the fault, and by whose account: the sandbox edge's
    health log, else the system's ``dc_healthy`` mechanism in Prometheus, else the fault's revert
    (a rollback that waits for the failback itself is then later than the DC's return)."""
    assert anchor.reverted_at is not None
    try:
        transitions = components.edge_state().get(dc, {}).get("transitions") or []
        back = [
            float(t["at"]) for t in transitions if t.get("healthy") and float(t["at"]) >= anchor.injected_at
        ]
        if back:
            return back[0], "edge health log"
    except (ChaosdrillError, KeyError, TypeError, ValueError):
        pass  # not the sandbox (or it is gone): ask the system's telemetry
    query = telemetry.mechanism("dc_healthy", configuration, dc=dc)
    if query is not None:
        span = max(1.0, anchor.reverted_at - anchor.injected_at)
        down = telemetry.time_until(query, anchor.injected_at, span, configuration, secrets, expect=False)
        if down is not None:
            went = anchor.injected_at + down
            up = telemetry.time_until(query, went, anchor.reverted_at - went + 1.0, configuration, secrets)
            if up is not None:
                return went + up, f"PromQL {query}"
    return anchor.reverted_at, "the fault's revert"


def failback_after(
    dc: str,
    failback_after_s: float = 5.0,
    max_failback_rto_s: float = 10.0,
    target: float = 0.995,
    consecutive: int = 3,
    max_lost_writes: int = 0,
    cells: list[str] | None = None,
    fault_kind: str = "dc_failover",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the cells of ``dc`` went home only after it had been back ``failback_after_s``
    (no answer of theirs came from ``dc`` in a window wholly before that), were then served from
    home at ``target`` for ``consecutive`` windows within ``max_failback_rto_s`` more seconds,
    and that at most ``max_lost_writes`` writes acknowledged during the failover were lost on the
    way back. "Back" is when ``dc`` passed its health checks again (the sandbox edge's log, else
    the ``dc_healthy`` mechanism, else the fault's revert). Returns ``failback_s`` (back to the
    first home-served window) and ``failback_rto_s`` (back to served well from home)."""
    if evidence.before_method():
        return dict(_SKIP)
    anchor = evidence.fault_anchor(fault_kind)
    if anchor.reverted_at is None:
        raise ActivityFailed(f"the outage ({anchor.description}) is still on, so nothing can fail back yet")
    back, back_by = _back_at(dc, anchor, configuration, secrets)
    windows = _windows()
    affected = _affected(windows, dc, anchor.injected_at, cells)
    points = obj.cell_series(windows, affected)
    early = [p for p in points if p.t0 >= back and p.t1 <= back + failback_after_s and p.served_by.get(dc, 0)]
    home = obj.first_home_window(points, dc, back)
    rto = obj.time_to_recover(points, back, target, consecutive, home=dc)
    lost = obj.lost_writes(
        windows, since=back, acked_since=anchor.injected_at, acked_until=home.t1 if home else None
    )
    measured = {
        "mechanism": "failback",
        "dc": dc,
        "cells": affected,
        "back_at": back,
        "back_by": back_by,
        "failback_s": None if home is None else max(0.0, home.t0 - back),
        "failback_rto_s": rto,
        "failback_after_s": failback_after_s,
        "max_failback_rto_s": max_failback_rto_s,
        "early_home_answers": sum(p.served_by.get(dc, 0) for p in early),
        "lost_writes_on_the_way_back": lost.lost,
    }
    problems = []
    if early:
        problems.append(f"went home before {dc} had been back {failback_after_s:g}s")
    if rto is None:
        problems.append(f"were not served from {dc} at {target:.2%} for {consecutive} windows in a row")
    elif rto > failback_after_s + max_failback_rto_s:
        problems.append(f"were served from home again only {rto:.2f}s after {dc} was back")
    if lost.lost > max_lost_writes:
        problems.append(f"lost {lost.lost} writes acknowledged during the failover")
    if problems:
        raise ActivityFailed(f"cells {affected} of {dc} " + "; ".join(problems) + f": {measured}")
    return {"ok": True, **measured}
