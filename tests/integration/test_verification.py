"""Fault verification: a latency toxic must be *felt*, not merely listed, or the injection is undone."""

import time
from typing import Any

import pytest

from actions.latency import add_latency, remove_latency
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.errors import FaultNotApplied
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOXIC = "chaosdrill-latency"


def _with_toxic(api: str) -> list[str]:
    return [
        n for n, p in ToxiproxyClient(api).proxies().items() if any(t.get("name") == TOXIC for t in p.toxics)
    ]


def test_observed_latency_passes_verification(sandbox: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    out = add_latency(250, dc="dc3", az="az-a")
    try:
        assert time.perf_counter() - t0 >= 0.2, "verification must have timed a request through the toxic"
        assert sorted(_with_toxic(sandbox["toxiproxy"]["api"])) == sorted(out["proxies"])
    finally:
        remove_latency(dc="dc3", az="az-a")


def test_a_listed_but_unfelt_latency_is_reverted(
    sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The toxic lands with no delay (as a server ignoring its attributes would): listed, not felt."""
    real = ToxiproxyClient.add_toxic

    def no_delay(
        self: ToxiproxyClient,
        proxy: str,
        name: str,
        kind: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
    ) -> None:
        real(self, proxy, name, kind, {**attributes, "latency": 0}, stream)

    monkeypatch.setattr(ToxiproxyClient, "add_toxic", no_delay)
    before = {r.fault.id for r in default_ledger().history()}
    with pytest.raises(FaultNotApplied, match="latency not observed"):
        add_latency(400, dc="dc3", az="az-a")
    assert _with_toxic(sandbox["toxiproxy"]["api"]) == []
    new = [r for r in default_ledger().history() if r.fault.id not in before]
    assert len(new) == 1 and new[0].how == "injection-failed" and new[0].reverted_at is not None


def test_blast_radius_refuses_before_anything_is_recorded(sandbox: dict[str, Any]) -> None:
    """The allowlist and the percentage cap are checked before the ledger or the target is touched."""
    from actions.pods import kill_pods
    from chaosdrill.errors import ActivityFailed
    from chaosdrill.sandbox import lifecycle

    before = len(default_ledger().history())
    pids = set(lifecycle.require_state()["pids"])
    with pytest.raises(ActivityFailed, match="blast radius"):
        add_latency(100, dc="*", configuration={"chaosdrill_allow_dcs": ["dc1"]})
    with pytest.raises(ActivityFailed, match="blast radius"):
        kill_pods("dc=dc1", percentage=100, configuration={"chaosdrill_max_percentage": 50})
    assert len(default_ledger().history()) == before
    assert [n for n, p in ToxiproxyClient(sandbox["toxiproxy"]["api"]).proxies().items() if p.toxics] == []
    assert set(lifecycle.require_state()["pids"]) == pids
