"""How long the supervisor lets a re-pointed replication link drain before it answers.

Removing a latency toxic from a proxy whose connections were just torn down stalls toxiproxy
for 5 s per chunk the toxic still holds for a dead connection (Shopify/toxiproxy#558); the
undo of a replication-lag fault then timed out and stayed open in the ledger. The supervisor
waits out the toxic's delay after re-pointing such a link; without latency it does not wait.
"""

import pytest

from chaosdrill.drivers.toxiproxy import Proxy
from chaosdrill.sandbox.sessions import settle_s

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def _proxy(*toxics: dict[str, object], enabled: bool = True) -> Proxy:
    return Proxy("redis-repl-dc2", "127.0.0.1:1", "127.0.0.1:2", enabled, tuple(toxics))


def test_a_latency_toxic_is_waited_out_with_its_jitter_and_a_margin() -> None:
    lag = {"name": "chaosdrill-latency", "type": "latency", "attributes": {"latency": 2000, "jitter": 100}}
    assert abs(settle_s(_proxy(lag)) - 2.4) < 1e-9


def test_the_largest_latency_counts_and_other_toxics_do_not() -> None:
    small = {"type": "latency", "attributes": {"latency": 50}}
    big = {"type": "latency", "attributes": {"latency": 1500}}
    cut = {"type": "timeout", "attributes": {"timeout": 0}}
    assert abs(settle_s(_proxy(small, cut, big)) - 1.8) < 1e-9


def test_no_latency_no_wait() -> None:
    assert settle_s(_proxy()) == 0.0
    assert settle_s(_proxy({"type": "bandwidth", "attributes": {"rate": 1}})) == 0.0
    assert settle_s(_proxy({"type": "latency", "attributes": {"latency": 0}})) == 0.0
    assert settle_s(None) == 0.0


def test_a_disabled_link_has_no_connections_to_drain() -> None:
    lag = {"type": "latency", "attributes": {"latency": 2000}}
    assert settle_s(_proxy(lag, enabled=False)) == 0.0
