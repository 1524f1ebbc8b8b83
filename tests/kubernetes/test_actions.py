"""The zone and data-center actions: Chaos Toolkit signatures, target routing, and one real round trip."""

import inspect

import pytest
from k8s_support import NAMESPACE, SERVICE_PODS, Cluster, wait_ready

from actions import datacenters, zones
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(300)]

ACTIONS = [getattr(zones, n) for n in zones.__all__] + [getattr(datacenters, n) for n in datacenters.__all__]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.__name__)
def test_activity_signature(action: object) -> None:
    sig = inspect.signature(action)  # type: ignore[arg-type]
    params = sig.parameters
    assert params["configuration"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["secrets"].kind is inspect.Parameter.KEYWORD_ONLY
    assert sig.return_annotation is not inspect.Signature.empty
    assert all(p.annotation is not inspect.Parameter.empty for p in params.values())
    assert (action.__doc__ or "").strip()
    # Chaos Toolkit discovery needs real types, not strings (no `from __future__ import annotations`).
    assert not any(isinstance(p.annotation, str) for p in params.values())


def test_zone_outage_action_round_trip(service: Cluster) -> None:
    conf = service.configuration()
    result = zones.zone_outage("dc2-az-a", 120, configuration=conf)
    try:
        assert len(result["nodes"]) == 2
        assert result["evicted_s"] >= result["tainted_s"]
        assert len(default_ledger().active(target="kubernetes")) == 1
    finally:
        back = zones.zone_outage_rollback("dc2-az-a", configuration=conf)
    assert back["ledger_entries_closed"] == 1
    assert default_ledger().active() == []
    wait_ready(service, "app=llm-api", SERVICE_PODS)


def test_dc_failover_without_traffic_shift(service: Cluster) -> None:
    conf = service.configuration()
    cells = service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"]
    try:
        result = datacenters.dc_failover("dc2", NAMESPACE, "", 120, configuration=conf)
        assert result["routing"] is None
        assert service.kubectl_json("get", "configmap", "llm-routing", "-n", NAMESPACE)["data"] == cells
    finally:
        datacenters.dc_failover_rollback("dc2", NAMESPACE, configuration=conf)
    wait_ready(service, "app=llm-api", SERVICE_PODS)
