"""Autoscaling and self-healing probes: replicas reached N within T of a surge, came back
down after it, and killed replicas were replaced within T.

Reaching and settling are judged by PromQL where the system file declares ``ready_replicas``
(the sandbox's does); otherwise, like the replacement of killed replicas (which needs each
replica's exit and start), from the sandbox supervisor's event log."""

import fnmatch
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import components, evidence, telemetry

__all__ = ["pools_at_desired_within", "replicas_reached", "replicas_recovered_within", "replicas_settled"]

BEFORE_FAULT_S = 1.0  # how long before the fault a pool must not have been at N already


def _scaled(pool: str) -> list[dict[str, Any]]:
    """Scaling events of the pools matching ``pool`` (a ``dc/az`` glob)."""
    return [
        e
        for e in components.supervisor_state()["events"]
        if e["type"] == "scaled" and fnmatch.fnmatchcase(e["pool"], pool)
    ]


def _timeline(pool: str, since: float) -> list[list[float]]:
    """``[[seconds since since, replicas], ...]``: the desired replicas of the pools matching
    ``pool`` together, at ``since`` and after each scaling event, from the supervisor's log."""
    state = components.supervisor_state()
    now = {
        f"{d}/{a}": int(p["desired"])
        for d, info in state["dcs"].items()
        for a, p in info["azs"].items()
        if fnmatch.fnmatchcase(f"{d}/{a}", pool)
    }
    later = [e for e in _scaled(pool) if e["at"] >= since]
    at_since = dict(now)
    for e in reversed(later):  # unwind the events to the desired counts at ``since``
        at_since[e["pool"]] = int(e["from"])
    points = [[0.0, float(sum(at_since.values()))]]
    for e in later:
        at_since[e["pool"]] = int(e["to"])
        points.append([round(e["at"] - since, 3), float(sum(at_since.values()))])
    return points


def _replicas_over_time(
    ready: str | None,
    pool: str,
    since: float,
    until: float | None,
    configuration: Configuration | None,
    secrets: Secrets | None,
) -> list[list[float]]:
    """The replicas timeline, from Prometheus when it is the judge, else from the supervisor."""
    if ready is not None:
        end = until if until is not None else time.time()
        return telemetry.steps(f"sum({ready})", since, end, configuration, secrets)
    return _timeline(pool, since)


def replicas_reached(
    dc: str,
    az: str,
    at_least: int,
    within_s: float = 30.0,
    fault_kind: str | None = "surge",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert the autoscaler took a pool matching ``dc``/``az`` (globs) to ``at_least``
    replicas within ``within_s`` of the latest fault (a surge by default), having been below
    it before the fault. The result's ``replicas`` is ``[[seconds since the fault, replicas of
    the matching pools], ...]``."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(fault_kind)
    pool = f"{dc}/{az}"
    ready = telemetry.mechanism("ready_replicas", configuration, pool=telemetry.glob_regex(pool))
    if ready is not None:
        query = f"({ready}) >= {int(at_least)}"
        if telemetry.is_true_at(query, anchor.injected_at - BEFORE_FAULT_S, configuration, secrets):
            # Reaching N proves nothing if a pool was there before the fault (an earlier surge
            # not yet scaled down, or an autoscaler frozen at N): nothing to credit it with.
            raise ActivityFailed(
                f"a pool matching {pool} had {at_least} ready replicas already before the fault, so the "
                f"autoscaler's reaction cannot be judged: {query!r} was true {BEFORE_FAULT_S:g}s before it"
            )
        took = telemetry.time_until(query, anchor.injected_at, within_s, configuration, secrets)
        if took is None:
            raise ActivityFailed(
                f"no pool matching {pool} reached {at_least} ready replicas within {within_s:g}s of the fault: {query!r}"
            )
        return {
            "ok": True,
            "mechanism": "autoscaling",
            "pool": pool,
            "after_s": took,
            "replicas": _replicas_over_time(
                ready, pool, anchor.injected_at, anchor.reverted_at, configuration, secrets
            ),
            "judged_by": query,
        }
    ups = [e for e in _scaled(pool) if e["at"] >= anchor.injected_at and e["to"] >= at_least]
    if not ups:
        peak = max([e["to"] for e in _scaled(pool) if e["at"] >= anchor.injected_at], default=None)
        raise ActivityFailed(f"pool {pool} never reached {at_least} replicas after the fault (peak: {peak})")
    delay = ups[0]["at"] - anchor.injected_at
    if delay > within_s:
        raise ActivityFailed(
            f"pool {pool} reached {at_least} replicas after {delay:.1f}s, later than {within_s:g}s"
        )
    return {
        "ok": True,
        "mechanism": "autoscaling",
        "pool": pool,
        "reached": ups[0]["to"],
        "after_s": delay,
        "replicas": _timeline(pool, anchor.injected_at),
    }


def replicas_settled(
    dc: str,
    az: str,
    at_most: int,
    within_s: float = 60.0,
    fault_kind: str | None = "surge",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert every pool matching ``dc``/``az`` (globs) is back at ``at_most`` replicas or
    fewer, and that the last scale-down came within ``within_s`` of the surge ending."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(fault_kind)
    if anchor.reverted_at is None:
        raise ActivityFailed(f"the fault ({anchor.description}) is still active")
    pool = f"{dc}/{az}"
    ready = telemetry.mechanism("ready_replicas", configuration, pool=telemetry.glob_regex(pool))
    if ready is not None:
        above = f"({ready}) > {int(at_most)}"
        took = telemetry.time_until(above, anchor.reverted_at, within_s, configuration, secrets, expect=False)
        if took is None or telemetry.is_true_now(above, configuration, secrets):
            raise ActivityFailed(
                f"pools matching {pool} were not back at {at_most} replicas or fewer within {within_s:g}s "
                f"of the surge ending: {above!r} is still true"
            )
        return {
            "ok": True,
            "mechanism": "autoscaling",
            "pool": pool,
            "settled_after_s": took,
            "replicas": _replicas_over_time(ready, pool, anchor.reverted_at, None, configuration, secrets),
            "judged_by": above,
        }
    state = components.supervisor_state()
    over = {
        f"{d}/{a}": p["desired"]
        for d, info in state["dcs"].items()
        for a, p in info["azs"].items()
        if fnmatch.fnmatchcase(f"{d}/{a}", pool) and p["desired"] > at_most
    }
    if over:
        raise ActivityFailed(f"pools still above {at_most} replicas after the surge: {over}")
    downs = [e for e in _scaled(pool) if e["at"] >= anchor.reverted_at and e["to"] < e["from"]]
    delay = (downs[-1]["at"] - anchor.reverted_at) if downs else 0.0
    if delay > within_s:
        raise ActivityFailed(f"pools {pool} settled after {delay:.1f}s, later than {within_s:g}s")
    return {
        "ok": True,
        "mechanism": "autoscaling",
        "pool": pool,
        "settled_after_s": delay,
        "scale_downs": len(downs),
        "replicas": _timeline(pool, anchor.reverted_at),
    }


def replicas_recovered_within(
    within_s: float = 10.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert every replica killed in this run was replaced within ``within_s`` seconds and
    every pool is back at its desired count."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    kills = evidence.faults("pod_kill")
    if not kills:
        raise ActivityFailed("no replicas were killed in this run")
    state = components.supervisor_state()
    events = state["events"]
    worst = 0.0
    for record in kills:
        t0 = record.fault.at
        exited = [e for e in events if e["type"] == "exited" and e["at"] >= t0 - 0.5]
        for ex in exited:
            started = [
                e
                for e in events
                if e["type"] == "started" and e["pool"] == ex["pool"] and e["at"] >= ex["at"]
            ]
            if not started:
                raise ActivityFailed(f"replica {ex['name']} in {ex['pool']} was never replaced")
            worst = max(worst, started[0]["at"] - t0)
    short = _short_pools(state)
    if short:
        raise ActivityFailed(f"pools below their desired replicas (live, desired): {short}")
    if worst > within_s:
        raise ActivityFailed(f"the slowest replacement took {worst:.2f}s, longer than {within_s:g}s")
    return {"ok": True, "mechanism": "self_healing", "slowest_replacement_s": worst, "kills": len(kills)}


def _short_pools(state: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        f"{dc}/{az}": (live, pool["desired"])
        for dc, info in state["dcs"].items()
        for az, pool in info["azs"].items()
        if not pool.get("held")
        and (live := sum(1 for s in pool["slots"] if s.get("replica"))) < pool["desired"]
    }


def pools_at_desired_within(
    within_s: float = 10.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert every pool that is not held runs its desired number of replicas, waiting up
    to ``within_s`` seconds for that (after a zone returns, say)."""
    began = time.monotonic()
    deadline = began + within_s
    short = _short_pools(components.supervisor_state())
    while short and time.monotonic() < deadline:
        time.sleep(0.2)
        short = _short_pools(components.supervisor_state())
    if short:
        raise ActivityFailed(
            f"pools below their desired replicas after {within_s:g}s (live, desired): {short}"
        )
    return {"ok": True, "mechanism": "self_healing", "at_desired_after_s": round(time.monotonic() - began, 3)}
