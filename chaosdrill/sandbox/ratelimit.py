"""A per-tenant token bucket that answers "no, retry after N seconds" without blocking.

Why not a library: ``limits`` offers fixed and moving windows (not a bucket with
burst), and ``aiolimiter``/``pyrate-limiter`` are built to *wait* for capacity; the
gateway needs a non-blocking try-acquire that also yields the exact Retry-After,
with per-tenant rates that an operator can change at runtime. That is a dozen lines.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "TenantLimiter", "TokenBucket"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float  # 0 when allowed


class TokenBucket:
    """``rate`` tokens/s refill up to ``burst``; each request takes one token."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def try_take(self) -> Decision:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Decision(True, 0.0)
        return Decision(False, (1.0 - self._tokens) / self.rate)


class TenantLimiter:
    """One bucket per tenant, created on first sight with that tenant's rate."""

    def __init__(
        self, default_rate: float, burst: float, per_tenant: dict[str, float], clock: Clock = time.monotonic
    ) -> None:
        self.default_rate = default_rate
        self.burst = burst
        self.per_tenant = dict(per_tenant)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, tenant: str) -> Decision:
        bucket = self._buckets.get(tenant)
        if bucket is None:
            rate = self.per_tenant.get(tenant, self.default_rate)
            bucket = self._buckets[tenant] = TokenBucket(rate, max(1.0, self.burst), self._clock)
        return bucket.try_take()

    @staticmethod
    def retry_after_header(decision: Decision) -> str:
        """Retry-After takes whole seconds (RFC 9110); never 0 for a refusal."""
        return str(max(1, math.ceil(decision.retry_after_s)))
