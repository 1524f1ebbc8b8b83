from pathlib import Path

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.sandbox.topology import Topology, load_topology, topology_from_dict

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_defaults_follow_the_seed_architecture() -> None:
    t = Topology()
    assert len(t.dcs) == 3 and len(t.azs) == 2 and t.replicas_per_az == 2
    assert t.autoscaler.target_utilization == 0.7
    assert t.gateway.fallback.local_cache_ttl_s == 600


def test_override_nested_field() -> None:
    t = topology_from_dict({"dcs": ["east", "west"], "gateway": {"breaker": {"enabled": False}}})
    assert t.dcs == ("east", "west") and not t.gateway.breaker.enabled


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"gateway": {"breakr": {}}}, "gateway.breakr"),
        ({"replicas_per_az": "two"}, "replicas_per_az"),
        ({"dcs": []}, "dcs"),
        ({"dcs": ["a", "a"]}, "dcs"),
        ({"gateway": {"breaker": {"enabled": "yes"}}}, "gateway.breaker.enabled"),
        ({"autoscaler": {"min_replicas": 5, "max_replicas": 3}}, "autoscaler"),
        ({"gateway": {"rate_limit": {"tenants": {"t": -1}}}}, "gateway.rate_limit.tenants.t"),
        ([1, 2], "<root>"),
    ],
)
def test_bad_topology_names_the_field(doc: object, field: str) -> None:
    with pytest.raises(BadInput) as err:
        topology_from_dict(doc, "topo.yaml")
    assert err.value.source == "topo.yaml"
    assert err.value.field == field


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dcs: [unclosed")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_topology(bad)
