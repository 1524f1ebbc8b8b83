"""Probes of control-plane outcomes on a Kubernetes target.

kwok pods run no process, so on the local cluster what can be checked is what the control
plane does: ready replicas, where pods land, whether cordoned nodes drain, how the HPA
moves, whether disruption budgets hold. The same probes read a real cluster unchanged.

Assertion probes poll until their condition holds or ``within_s`` runs out, then raise
ActivityFailed naming the target, the threshold and the last value seen; they return
``True`` so a hypothesis can use ``tolerance: true``. Measuring probes return JSON data.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence
from chaosdrill.drivers.kube import reads as kube
from chaosdrill.errors import TemporaryError

__all__ = [
    "deployments_ready",
    "hpa_reaches",
    "hpa_settles",
    "hpa_status",
    "no_pods_on_cordoned_nodes",
    "pdbs_respected",
    "pods_per_zone",
    "pods_spread_over_zones",
    "survivors_absorb_within",
]

T = TypeVar("T")
POLL_S = 1.0


def _conf(configuration: Configuration | None) -> dict[str, Any]:
    return dict(configuration or {})


def _poll(
    what: str,
    observe: Callable[[], T],
    holds: Callable[[T], bool],
    describe: Callable[[T], str],
    within_s: float,
) -> T:
    """Observe until ``holds``; on timeout raise ActivityFailed with the last observation."""
    if within_s < 0:
        raise ActivityFailed(f"{what}: within_s must be >= 0, got {within_s}")
    deadline = time.monotonic() + within_s
    last_error: Exception | None = None
    while True:
        try:
            seen = observe()
            last_error = None
            if holds(seen):
                return seen
            last = describe(seen)
        except TemporaryError as e:  # the API server restarting is not a finding yet
            last_error, last = e, f"error: {e}"
        if time.monotonic() >= deadline:
            raise ActivityFailed(f"{what}: not met within {within_s}s; observed {last}") from last_error
        time.sleep(POLL_S)


def deployments_ready(
    selector: str = "app=llm-api",
    namespace: str = "default",
    min_ready: int = 1,
    within_s: float = 60.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """The Deployments matching ``selector`` have at least ``min_ready`` ready replicas in total."""
    conf = _conf(configuration)
    _poll(
        f"deployments {selector!r} in {namespace}: ready replicas >= {min_ready}",
        lambda: kube.deployments(namespace, selector, conf),
        lambda deps: sum(d.ready for d in deps) >= min_ready,
        lambda deps: f"{sum(d.ready for d in deps)} ready ({', '.join(f'{d.name}={d.ready}' for d in deps)})",
        within_s,
    )
    return True


def pods_per_zone(
    selector: str = "app=llm-api",
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict[str, int]:
    """How many live pods matching ``selector`` run in each zone (measuring probe)."""
    counts: dict[str, int] = {}
    for p in kube.pod_placements(namespace, selector, _conf(configuration)):
        zone = p.zone or "<unscheduled>"
        counts[zone] = counts.get(zone, 0) + 1
    return dict(sorted(counts.items()))


def pods_spread_over_zones(
    selector: str = "app=llm-api",
    namespace: str = "default",
    min_zones: int = 2,
    within_s: float = 60.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Live pods matching ``selector`` run in at least ``min_zones`` distinct zones."""
    conf = _conf(configuration)

    def zones(placements: list[kube.PodPlacement]) -> set[str]:
        return {p.zone for p in placements if p.zone}

    _poll(
        f"pods {selector!r} in {namespace}: spread over >= {min_zones} zones",
        lambda: kube.pod_placements(namespace, selector, conf),
        lambda seen: len(zones(seen)) >= min_zones,
        lambda seen: f"{len(zones(seen))} zones {sorted(zones(seen))}",
        within_s,
    )
    return True


def no_pods_on_cordoned_nodes(
    selector: str = "app=llm-api",
    namespace: str = "default",
    within_s: float = 120.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Within ``within_s`` seconds no live pod matching ``selector`` is on a cordoned node."""
    conf = _conf(configuration)

    def stranded() -> list[str]:
        cordoned = set(kube.cordoned_nodes(conf))
        return [
            f"{p.name}@{p.node}" for p in kube.pod_placements(namespace, selector, conf) if p.node in cordoned
        ]

    _poll(
        f"pods {selector!r} in {namespace}: none on cordoned nodes",
        stranded,
        lambda left: not left,
        lambda left: f"{len(left)} pods on cordoned nodes, e.g. {left[:3]}",
        within_s,
    )
    return True


def _hpa(name: str, namespace: str, conf: dict[str, Any]) -> kube.HpaState:
    for h in kube.hpas(namespace, conf):
        if h.name == name:
            return h
    raise ActivityFailed(f"HPA {namespace}/{name} does not exist")


def hpa_status(
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> list[dict[str, Any]]:
    """Every HPA of ``namespace``: current and desired replicas, bounds, CPU utilization."""
    return kube.as_json(kube.hpas(namespace, _conf(configuration)))


def hpa_reaches(
    name: str,
    min_replicas: int,
    namespace: str = "default",
    within_s: float = 180.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """HPA ``name`` wants, and has, at least ``min_replicas`` replicas within ``within_s``."""
    conf = _conf(configuration)
    _poll(
        f"HPA {namespace}/{name}: desired and current replicas >= {min_replicas}",
        lambda: _hpa(name, namespace, conf),
        lambda h: h.desired >= min_replicas and h.current >= min_replicas,
        lambda h: f"desired={h.desired} current={h.current} cpu={h.cpu_utilization}%",
        within_s,
    )
    return True


def hpa_settles(
    name: str,
    max_replicas: int,
    namespace: str = "default",
    within_s: float = 300.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """HPA ``name`` comes back down to at most ``max_replicas`` (desired and current) within ``within_s``."""
    conf = _conf(configuration)
    _poll(
        f"HPA {namespace}/{name}: desired and current replicas <= {max_replicas}",
        lambda: _hpa(name, namespace, conf),
        lambda h: h.desired <= max_replicas and h.current <= max_replicas,
        lambda h: f"desired={h.desired} current={h.current} cpu={h.cpu_utilization}%",
        within_s,
    )
    return True


def pdbs_respected(
    namespace: str = "default",
    within_s: float = 60.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> bool:
    """Every PodDisruptionBudget of ``namespace`` has at least its desired healthy pods."""
    conf = _conf(configuration)

    def short(pdbs: list[kube.PdbState]) -> list[kube.PdbState]:
        return [p for p in pdbs if p.current_healthy < p.desired_healthy]

    _poll(
        f"PodDisruptionBudgets in {namespace}: current healthy >= desired healthy",
        lambda: kube.pdbs(namespace, conf),
        lambda pdbs: bool(pdbs) and not short(pdbs),
        lambda pdbs: (
            ", ".join(f"{p.name}: {p.current_healthy}/{p.desired_healthy}" for p in short(pdbs))
            or "no PodDisruptionBudget"
        ),
        within_s,
    )
    return True


def _absorbed_at(ready_since: list[float | None], target: int) -> float | None:
    """When the ``target``-th of these pods became ready (the moment the ready count reached
    ``target``, counting the pods ready now); None while fewer than ``target`` are ready."""
    times = sorted(t for t in ready_since if t is not None)
    if target <= 0:
        return 0.0
    return times[target - 1] if len(times) >= target else None


def survivors_absorb_within(
    dc: str,
    namespace: str = "default",
    selector: str = "app=llm-api",
    target_ready: int | None = None,
    within_s: float = 120.0,
    fault_kind: str = "dc_failover",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Measure how long the surviving data centers took to absorb the lost ``dc``'s replicas:
    from the fault's injection until the ready pods matching ``selector`` outside ``dc`` reached
    ``target_ready`` (default: every replica the survivors' Deployments now want, so an
    autoscaler's scale-up counts). Waits up to ``within_s`` for it, then takes the moment from
    the pods' own Ready transition times, so the figure does not depend on when the probe ran.
    Returns ``absorb_s`` (0 when enough were ready before the fault: capacity planned N+1)."""
    if evidence.before_method():
        return {"ok": True, "skipped": "before the method: no fault to judge yet"}
    anchor = evidence.fault_anchor(fault_kind)
    conf = _conf(configuration)

    def survivors() -> tuple[int, list[kube.PodReadiness]]:
        wanted = sum(
            d.replicas
            for d in kube.deployments(namespace, selector, conf)
            if d.labels.get(kube.DC_LABEL) != dc
        )
        pods = [p for p in kube.pod_readiness(namespace, selector, conf) if p.dc is not None and p.dc != dc]
        return (target_ready if target_ready is not None else wanted), pods

    target, pods = _poll(
        f"deployments {selector!r} outside {dc} in {namespace}: ready replicas at the target",
        survivors,
        lambda seen: _absorbed_at([p.ready_since for p in seen[1]], seen[0]) is not None,
        lambda seen: f"{sum(1 for p in seen[1] if p.ready_since is not None)} ready of {seen[0]}",
        within_s,
    )
    moment = _absorbed_at([p.ready_since for p in pods], target)
    assert moment is not None
    return {
        "ok": True,
        "mechanism": "absorb",
        "dc": dc,
        "absorb_s": max(0.0, moment - anchor.injected_at),
        "target_ready": target,
        "ready": sum(1 for p in pods if p.ready_since is not None),
    }
