"""The system file: a good one reads into its typed form; every bad one names the file and the field."""

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.drivers.http_endpoint import section_settings
from chaosdrill.errors import BadInput
from chaosdrill.system import load_system, parse_system, system_of
from chaosdrill.validate import Kind, validate_file

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

GOOD: dict[str, Any] = {
    "apiVersion": "chaosdrill.io/v1",
    "kind": "System",
    "name": "shop",
    "endpoints": {
        "base_url": "http://127.0.0.1:8080",
        "requests": {
            "default": {
                "method": "POST",
                "path": "/v1/generate?u={user}",
                "headers": {"X-Tenant": "{tenant}"},
                "json": {"prompt": "hi {seq}"},
            }
        },
        "outcomes": {"rejected_statuses": [429, 503], "degraded": {"json_field": "degraded"}},
    },
    "toxiproxy": [
        {
            "api": "http://127.0.0.1:8474/",
            "links": [{"dc": "dc1", "az": "az-a", "link": "replicas", "proxies": ["dc1-a-*"]}],
        }
    ],
    "prometheus": {"url": "http://127.0.0.1:9090", "auth": {"bearer_token_env": "PROM_TOKEN"}},
    "kubernetes": {"context": "staging", "namespaces": ["shop"]},
    "mechanisms": {
        "breaker_open": {
            "query": 'max(breaker_state{dc="{dc}",pool="{pool}"}) == 1',
            "labels": ["dc", "pool"],
        }
    },
}


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def test_a_good_system_file_reads_into_its_typed_form(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    system = load_system(path)
    assert system.name == "shop"
    assert system.toxiproxy[0].api == "http://127.0.0.1:8474"
    assert system.toxiproxy[0].links[0].proxies == ("dc1-a-*",)
    assert system.kubernetes is not None and system.kubernetes.namespaces == ("shop",)
    assert system.kubernetes.zone_label == "topology.kubernetes.io/zone"
    assert validate_file(path) is Kind.SYSTEM


def test_a_mechanism_query_is_filled_with_escaped_labels_and_keeps_promql_braces() -> None:
    mech = parse_system(GOOD, "s.yaml").mechanisms["breaker_open"]
    assert mech.render(dc="dc1", pool='a"b') == 'max(breaker_state{dc="dc1",pool="a\\"b"}) == 1'
    with pytest.raises(BadInput, match="pool: mechanism breaker_open needs it"):
        mech.render(dc="dc1")
    with pytest.raises(BadInput, match="tenant: mechanism breaker_open takes"):
        mech.render(dc="dc1", pool="a", tenant="t")


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        (("endpoints", "base_url"), "ftp://x", "endpoints.base_url", "matching"),
        (
            ("endpoints", "requests", "default", "method"),
            "FETCH",
            "endpoints.requests.default.method",
            "one of",
        ),
        (
            ("endpoints", "requests", "default", "path"),
            "/x/{userid}",
            "endpoints.requests.default.path",
            "{userid}",
        ),
        (("endpoints", "requests", "default", "body"), "raw", "endpoints.requests.default", "not"),
        (("toxiproxy", 0, "links", 0, "proxies"), [], "toxiproxy[0].links[0].proxies", "non-empty|few"),
        (("prometheus", "auth"), {"token": "x"}, "prometheus.auth", "bearer_token_env"),
        (("mechanisms", "breaker_open", "labels"), ["dc"], "mechanisms.breaker_open.query", "{pool}"),
        (("mechanisms", "breakers_open"), {"query": "up"}, "mechanisms", "unknown field"),
        (("kubernetes",), {"namespaces": ["a"]}, "kubernetes.context", "missing"),
        (("headers",), {"served_by": "X-DC", "dc": "X-DC"}, "headers", "unknown field|additional"),
        (("session",), {"read_path": "/session"}, "session.read_path", "exactly once"),
    ],
)
def test_every_error_names_the_file_and_the_field(
    path: tuple[Any, ...], value: Any, field: str, problem: str
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_system(_with(path, value), "team/system.yaml")
    assert caught.value.source == "team/system.yaml"
    assert caught.value.field == field
    assert caught.value.problem and re.search(problem, caught.value.problem)


def test_an_experiment_reaches_prometheus_through_its_system_file(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    conf = {"chaosdrill_target": "system", "chaosdrill_system": str(path)}
    source, where, block = section_settings(conf, "prometheus")
    assert (source, where, block["url"]) == (str(path), "prometheus", "http://127.0.0.1:9090")
    # The experiment's own setting wins over the file's.
    own = {**conf, "chaosdrill_prometheus": {"url": "http://127.0.0.1:1"}}
    assert section_settings(own, "prometheus")[2]["url"] == "http://127.0.0.1:1"
    # A section the file does not have is still reported as missing from the experiment.
    with pytest.raises(BadInput, match="chaosdrill_alertmanager"):
        section_settings(conf, "alertmanager")


def test_a_missing_system_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"chaosdrill_system: system file .*nope\.yaml"):
        system_of({"chaosdrill_system": str(tmp_path / "nope.yaml")})


def test_the_placement_headers_and_the_session_contract_reach_the_load(tmp_path: Path) -> None:
    from chaosdrill.load.system import tracking_for

    doc = _with(("headers",), {"served_by": "X-DC", "cell": "X-Cell", "seq": "X-Seq", "seq_ack": "X-Ack"})
    doc["session"] = {"read_path": "/v1/session/{user}"}
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(doc))
    system = load_system(path)
    assert system.headers is not None and system.headers.cell == "X-Cell"
    assert system.session is not None and system.session.read_path == "/v1/session/{user}"
    config = {"chaosdrill_target": "system", "chaosdrill_system": str(path)}
    tracking = tracking_for(config)
    assert tracking is not None and tracking.sessions
    assert (tracking.served_by, tracking.cell, tracking.seq, tracking.seq_ack) == (
        "X-DC",
        "X-Cell",
        "X-Seq",
        "X-Ack",
    )
    # Without the sections a system names nothing; the sandbox falls back to its own contract.
    path.write_text(yaml.safe_dump(GOOD))
    assert tracking_for(config) is None
    sandbox = tracking_for({"chaosdrill_target": "sandbox", "chaosdrill_system": str(path)})
    assert (
        sandbox is not None
        and sandbox.cell == "X-Chaosdrill-Cell"
        and sandbox.read_path == "/v1/session/{user}"
    )


SESSION = {
    "headers": {"served_by": "X-Served-By", "cell": "X-Cell", "seq": "X-Seq", "seq_ack": "X-Seq-Ack"},
    "session": {"read_path": "/v1/session/{user}", "write_path": "/v1/generate"},
}


def test_session_headers_and_read_path_read_into_their_typed_form() -> None:
    system = parse_system({**copy.deepcopy(GOOD), **SESSION}, "s.yaml")
    assert system.headers is not None and system.session is not None
    assert (system.headers.served_by, system.headers.cell) == ("X-Served-By", "X-Cell")
    assert (system.headers.seq, system.headers.seq_ack) == ("X-Seq", "X-Seq-Ack")
    assert system.session.read_path_for("a b/c") == "/v1/session/a%20b%2Fc"
    assert system.session.write_path == "/v1/generate"
    plain = parse_system(GOOD, "s.yaml")
    assert plain.headers is None and plain.session is None


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"headers": {"seq": "X-Seq"}}, "headers.seq_ack", "come together"),
        ({"headers": {"seq_ack": "X-Seq-Ack"}}, "headers.seq", "come together"),
        ({"headers": {"cell": "X Cell"}}, "headers.cell", "match"),
        ({"headers": {"cell": "X-A", "served_by": "x-a"}}, "headers", "named once"),
        ({"headers": {}}, "headers", "non-empty|fewer|less"),
        ({"session": {"read_path": "/v1/session"}}, "session.read_path", "{user} exactly once"),
        ({"session": {"read_path": "/s/{user}/{seq}"}}, "session.read_path", "no other placeholder"),
        ({"session": {"read_path": "s/{user}"}}, "session.read_path", "match"),
        ({"session": {"write_path": "/w"}}, "session.read_path", "required|missing"),
        ({"headers": {"cell": "X-Cell"}, "session": {"read_path": "/s/{user}"}}, "headers.seq", "needs"),
    ],
)
def test_bad_session_settings_name_their_field(change: dict[str, Any], field: str, problem: str) -> None:
    doc = {**copy.deepcopy(GOOD), **change}
    with pytest.raises(BadInput) as caught:
        parse_system(doc, "team/system.yaml")
    assert caught.value.source == "team/system.yaml"
    assert caught.value.field == field, caught.value
    assert re.search(problem, str(caught.value)), str(caught.value)


def test_served_by_must_agree_with_the_outcomes_served_by_header() -> None:
    doc = {**copy.deepcopy(GOOD), **SESSION}
    doc["endpoints"]["outcomes"]["served_by_header"] = "X-Other"
    with pytest.raises(BadInput, match=r"differs from endpoints\.outcomes\.served_by_header") as caught:
        parse_system(doc, "s.yaml")
    assert caught.value.field == "headers.served_by"


def test_the_sandbox_describes_its_session_contract_in_a_valid_system_file() -> None:
    from fakes.sandbox_api import FakeSandbox

    from chaosdrill.sandbox import system_file
    from chaosdrill.sandbox.edge import CELL_HEADER, FORWARD_REQUEST, FORWARD_RESPONSE, SERVED_BY_HEADER
    from chaosdrill.sandbox.gateway import ACK_HEADER, SEQ_HEADER

    state = FakeSandbox(dcs=("dc1", "dc2", "dc3")).snapshot()
    assert state is not None
    system = parse_system(system_file.describe(state), "sandbox/system.yaml")  # type: ignore[arg-type]
    assert system.headers is not None and system.session is not None
    assert (system.headers.served_by, system.headers.cell) == (SERVED_BY_HEADER, CELL_HEADER)
    assert (system.headers.seq, system.headers.seq_ack) == (SEQ_HEADER, ACK_HEADER)
    assert SEQ_HEADER in FORWARD_REQUEST and {ACK_HEADER, CELL_HEADER} <= set(FORWARD_RESPONSE)
    assert system.session.read_path_for("u1") == "/v1/session/u1"
    links = {(lk.dc, lk.link): lk.proxies for lk in system.toxiproxy[0].links}
    assert links[("dc1", "redis-repl")] == ("redis-repl-dc1",)
    assert links[("dc2", "sessions")] == ("dc2-sessions-dc1", "dc2-sessions-dc2")
