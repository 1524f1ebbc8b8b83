"""The sandbox topology: DCs, AZs, replicas and every defence's settings, as typed models.

Defaults follow the seed article (DESIGN.md §0): 3 DCs (cells by hash(user) % 3),
2 AZs each, HPA target 70%, a local cache with a 10-minute TTL in front of Redis.
A YAML file may override any field; unknown or ill-typed fields are a BadInput that
names the file and the dotted path, so a typo never silently falls back to a default.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chaosdrill.errors import BadInput

__all__ = [
    "AutoscalerSpec",
    "BreakerSpec",
    "EdgeSpec",
    "FallbackSpec",
    "GatewaySpec",
    "RateLimitSpec",
    "ReplicaSpec",
    "SessionsSpec",
    "Topology",
    "load_topology",
    "topology_from_dict",
]


@dataclass(frozen=True)
class ReplicaSpec:
    """Simulated inference: lognormal service time, fixed slots, bounded queue."""

    service_ms_median: float = 100.0
    service_ms_sigma: float = 0.3  # lognormal shape; p99 ~ median * e^(2.33 sigma) ~ 2x median
    per_token_ms: float = 0.0
    slots: int = 2  # ~20 req/s per replica at full utilization: small enough to scale in a drill
    queue: int = 8


@dataclass(frozen=True)
class RateLimitSpec:
    """Per-tenant token bucket at each gateway; ``tenants`` overrides the default."""

    enabled: bool = True
    rate: float = 60.0  # tokens per second, per tenant, per gateway
    burst: float = 30.0
    tenants: dict[str, float] = field(default_factory=lambda: {"burst": 40.0})


@dataclass(frozen=True)
class BreakerSpec:
    """A Hystrix-style breaker per upstream pool."""

    enabled: bool = True
    window_s: float = 3.0
    min_requests: int = 10
    failure_ratio: float = 0.5
    open_s: float = 3.0
    half_open_probes: int = 3


@dataclass(frozen=True)
class FallbackSpec:
    enabled: bool = True
    local_cache_size: int = 1024
    local_cache_ttl_s: float = 600.0
    redis_ttl_s: int = 3600
    redis_timeout_s: float = 0.1


@dataclass(frozen=True)
class GatewaySpec:
    rate_limit: RateLimitSpec = field(default_factory=RateLimitSpec)
    breaker: BreakerSpec = field(default_factory=BreakerSpec)
    fallback: FallbackSpec = field(default_factory=FallbackSpec)
    upstream_timeout_s: float = 0.5
    max_in_flight: int = 64  # per gateway; batch is shed above batch_share of it
    batch_share: float = 0.6
    retries: int = 1  # on connection failures, to another replica


@dataclass(frozen=True)
class AutoscalerSpec:
    """The Kubernetes HPA algorithm, per AZ pool."""

    enabled: bool = True
    target_utilization: float = 0.7
    tolerance: float = 0.1
    min_replicas: int = 2
    max_replicas: int = 5
    period_s: float = 2.0
    scale_down_stabilization_s: float = 10.0  # Kubernetes: 300 s; the sandbox compresses time


@dataclass(frozen=True)
class EdgeSpec:
    health_interval_s: float = 0.5
    unhealthy_after: int = 3
    healthy_after: int = 3
    timeout_s: float = 5.0


@dataclass(frozen=True)
class SessionsSpec:
    """Session state: a Redis primary per DC, replicated asynchronously to the next DC."""

    write_timeout_s: float = 0.5  # a session write slower than this is an error, never an ack
    heartbeat_s: float = 0.2  # the supervisor's heartbeat into each primary: lag in seconds
    switchover_timeout_s: float = 5.0  # how long a planned switchover waits for the replica
    keep_seqs: int = 256  # acknowledged sequence numbers kept per user, newest first


@dataclass(frozen=True)
class Topology:
    dcs: tuple[str, ...] = ("dc1", "dc2", "dc3")
    azs: tuple[str, ...] = ("az-a", "az-b")
    replicas_per_az: int = 2
    restart_delay_s: float = 1.0
    replica: ReplicaSpec = field(default_factory=ReplicaSpec)
    gateway: GatewaySpec = field(default_factory=GatewaySpec)
    autoscaler: AutoscalerSpec = field(default_factory=AutoscalerSpec)
    edge: EdgeSpec = field(default_factory=EdgeSpec)
    sessions: SessionsSpec = field(default_factory=SessionsSpec)

    def pools(self) -> list[tuple[str, str]]:
        return [(dc, az) for dc in self.dcs for az in self.azs]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


C = TypeVar("C")


def _convert(value: Any, tp: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, source, path)
    if origin is tuple:
        if not isinstance(value, list | tuple) or not value:
            raise BadInput(source, path, f"expected a non-empty list, got {type(value).__name__}")
        (inner, _) = typing.get_args(tp)
        items = [_convert(v, inner, source, f"{path}[{i}]") for i, v in enumerate(value)]
        if len(set(items)) != len(items):
            raise BadInput(source, path, "names must be unique")
        return tuple(items)
    if origin is dict:
        key_t, val_t = typing.get_args(tp)
        if not isinstance(value, dict):
            raise BadInput(source, path, f"expected a mapping, got {type(value).__name__}")
        return {
            _convert(k, key_t, source, f"{path}.{k}"): _convert(v, val_t, source, f"{path}.{k}")
            for k, v in value.items()
        }
    if origin in (typing.Union, types.UnionType):
        raise BadInput(source, path, "unsupported field type")  # no optional fields in a topology
    if tp is bool:
        if not isinstance(value, bool):
            raise BadInput(source, path, f"expected a boolean, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadInput(source, path, f"expected a non-negative integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadInput(source, path, f"expected a non-negative number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value or not value.replace("-", "").isalnum():
            raise BadInput(source, path, f"expected a name of letters, digits and '-', got {value!r}")
        return value
    raise BadInput(source, path, f"unsupported field type {tp}")


def _build(cls: type[C], raw: Any, source: str, path: str) -> C:
    if not isinstance(raw, dict):
        raise BadInput(source, path or "<root>", f"expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise BadInput(source, where, f"unknown field (expected one of: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], source, f"{path}.{k}" if path else k) for k, v in raw.items()}
    return cls(**kwargs)


def topology_from_dict(raw: Any, source: str = "<topology>") -> Topology:
    topo = _build(Topology, raw, source, "")
    _check(topo, source)
    return topo


def _check(t: Topology, source: str) -> None:
    a = t.autoscaler
    if a.min_replicas < 1 or a.max_replicas < a.min_replicas:
        raise BadInput(source, "autoscaler", "need 1 <= min_replicas <= max_replicas")
    if not a.min_replicas <= t.replicas_per_az <= a.max_replicas:
        raise BadInput(source, "replicas_per_az", "must lie within autoscaler min/max replicas")
    if not 0 < a.target_utilization <= 1:
        raise BadInput(source, "autoscaler.target_utilization", "must be in (0, 1]")
    if not 0 < t.gateway.breaker.failure_ratio <= 1:
        raise BadInput(source, "gateway.breaker.failure_ratio", "must be in (0, 1]")
    if not 0 < t.gateway.batch_share <= 1:
        raise BadInput(source, "gateway.batch_share", "must be in (0, 1]")
    if t.replica.slots < 1:
        raise BadInput(source, "replica.slots", "must be at least 1")
    if t.sessions.write_timeout_s <= 0 or t.sessions.heartbeat_s <= 0:
        raise BadInput(source, "sessions", "write_timeout_s and heartbeat_s must be positive")
    if t.sessions.keep_seqs < 1:
        raise BadInput(source, "sessions.keep_seqs", "must be at least 1")


def load_topology(path: Path | None) -> Topology:
    """The default topology, or the one in ``path`` (YAML), validated."""
    if path is None:
        return Topology()
    # Lazy for start-up time: every sandbox child imports this module, only `up` reads a file.
    from chaosdrill.schemas.reader import read_document

    raw = read_document(path)
    return topology_from_dict({} if raw is None else raw, str(path))
