import pytest

from chaosdrill.sandbox.cache import LocalCache
from chaosdrill.sandbox.gateway import admits

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    ("in_flight", "priority", "admitted"),
    [
        (0, "batch", True),
        (59, "batch", True),
        (60, "batch", False),  # batch may use 60% of 100
        (60, "interactive", True),
        (99, "interactive", True),
        (100, "interactive", False),
    ],
)
def test_batch_is_shed_before_interactive(in_flight: int, priority: str, admitted: bool) -> None:
    assert admits(in_flight, 100, 0.6, priority) is admitted


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_local_cache_ttl_and_bound() -> None:
    clock = Clock()
    cache = LocalCache(size=2, ttl_s=600, clock=clock)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"  # a is now most recent
    cache.put("c", "3")  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") == "1" and len(cache) == 2
    clock.now = 600.0
    assert cache.get("a") is None  # expired after the 10-minute TTL
