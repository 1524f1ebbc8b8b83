import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaosdrill.sandbox.ratelimit import TenantLimiter, TokenBucket

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_exact_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.try_take().allowed for _ in range(3)] == [True, True, True]
    refused = bucket.try_take()
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.1)
    clock.now = 0.1
    assert bucket.try_take().allowed


def test_refill_is_capped_at_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=100, burst=2, clock=clock)
    clock.now = 60.0
    assert [bucket.try_take().allowed for _ in range(3)] == [True, True, False]


def test_tenants_have_their_own_buckets_and_rates() -> None:
    clock = Clock()
    limiter = TenantLimiter(default_rate=1, burst=1, per_tenant={"big": 100}, clock=clock)
    assert limiter.check("a").allowed and not limiter.check("a").allowed
    assert limiter.check("b").allowed  # a's exhaustion does not touch b
    refused = limiter.check("a")
    assert TenantLimiter.retry_after_header(refused) == "1"
    assert limiter.check("big").allowed


def test_invalid_bucket_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.5, 200),
    burst=st.floats(1, 50),
    gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=300),
)
def test_never_admits_more_than_burst_plus_refill(rate: float, burst: float, gaps: list[float]) -> None:
    clock = Clock()
    bucket = TokenBucket(rate, burst, clock)
    admitted = 0
    for gap in gaps:
        clock.now += gap
        admitted += bucket.try_take().allowed
    assert admitted <= burst + rate * clock.now + 1e-6
