"""Request templates and outcome rules as read from a system file's ``endpoints`` section."""

import json
from pathlib import Path
from typing import Any

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.load.system import endpoints_for
from chaosdrill.load.template import (
    SANDBOX_RULES,
    OutcomeRules,
    Slot,
    load_endpoints,
    parse_endpoints,
    split_placeholders,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SOURCE = "system.yaml"


def _endpoints(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "base_url": "http://127.0.0.1:8080",
        "requests": {
            "default": {
                "method": "POST",
                "path": "/v1/generate?user={user}",
                "headers": {"X-Tenant": "{tenant}", "X-User": "{user}"},
                "json": {"prompt": "hello {seq}", "max_tokens": 16},
            }
        },
    }
    base.update(over)
    return base


def _default(**over: Any) -> dict[str, Any]:
    template = dict(_endpoints()["requests"]["default"])
    template.update(over)
    return _endpoints(requests={"default": {k: v for k, v in template.items() if v is not None}})


def test_the_spec_example_parses() -> None:
    e = parse_endpoints(
        _endpoints(
            health_url="http://127.0.0.1:8080/healthz",
            outcomes={
                "rejected_statuses": [429, 503],
                "degraded": {"header": "X-Chaosdrill-Degraded"},
                "served_by_header": "X-Served-By",
            },
        ),
        SOURCE,
    )
    assert e.base_url == "http://127.0.0.1:8080/"  # a path-less base URL gets "/" so it is a prefix
    t = e.template_for("any-stream")
    assert (t.method, t.path) == ("POST", "/v1/generate?user={user}")
    assert t.headers == (("X-Tenant", "{tenant}"), ("X-User", "{user}"))
    assert t.json_body == {"prompt": "hello {seq}", "max_tokens": 16}
    assert e.outcomes == OutcomeRules((429, 503), "X-Chaosdrill-Degraded", None, "X-Served-By")
    assert e.health_url == "http://127.0.0.1:8080/healthz"


def test_round_trip_through_dict_and_json() -> None:
    e = parse_endpoints(
        _endpoints(outcomes={"degraded": {"json_field": "degraded"}, "served_by_header": "X-DC"}), SOURCE
    )
    again = parse_endpoints(json.loads(json.dumps(e.to_dict())), SOURCE)
    assert again == e


def test_defaults() -> None:
    e = parse_endpoints(
        {"base_url": "https://svc.example:8443/api", "requests": {"default": {"path": "/items"}}}, SOURCE
    )
    assert e.template_for("x").method == "GET"  # no body: GET, as curl does
    assert e.outcomes == OutcomeRules() and e.outcomes.rejected_statuses == (429,)
    assert e.outcomes.degraded_header is None and e.outcomes.degraded_json_field is None
    with_body = parse_endpoints(_default(method=None), SOURCE)
    assert with_body.template_for("x").method == "POST"  # a body: POST
    assert SANDBOX_RULES.degraded_header == "X-Chaosdrill-Degraded"


def test_stream_templates_fall_back_to_default() -> None:
    e = parse_endpoints(
        _endpoints(requests={"default": {"path": "/a"}, "writer": {"path": "/b", "body": "x"}}), SOURCE
    )
    assert e.template_for("writer").path == "/b"
    assert e.template_for("reader").path == "/a"
    only = parse_endpoints(_endpoints(requests={"writer": {"path": "/b"}}), SOURCE)
    with pytest.raises(BadInput) as info:
        only.check_streams(["writer", "reader"], SOURCE)
    assert info.value.field == "endpoints.requests" and "'reader'" in info.value.problem


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_default(method="FETCH"), "endpoints.requests.default.method", "GET"),
        (_default(path="items"), "endpoints.requests.default.path", "starting with '/'"),
        (_default(path="/a b"), "endpoints.requests.default.path", "without spaces"),
        (_default(path="/items/{id}"), "endpoints.requests.default.path", "unknown placeholder {id}"),
        (_default(path="/items/{user"), "endpoints.requests.default.path", "single '{'"),
        (_default(path="/x}"), "endpoints.requests.default.path", "single '}'"),
        (
            _default(headers={"X-Tenant": "{tenant} {org}"}),
            "endpoints.requests.default.headers.X-Tenant",
            "unknown placeholder {org}",
        ),
        (_default(headers={"Bad Name": "x"}), "endpoints.requests.default.headers.Bad Name", "header name"),
        (
            _default(headers={"Content-Length": "3"}),
            "endpoints.requests.default.headers.Content-Length",
            "itself",
        ),
        (_default(headers={"X-A": "é"}), "endpoints.requests.default.headers.X-A", "printable ASCII"),
        (_default(headers={"X-A": "1", "x-a": "2"}), "endpoints.requests.default.headers.x-a", "twice"),
        (_default(headers={"X-A": ["x"]}), "endpoints.requests.default.headers.X-A", "must be a string"),
        (
            _default(json={"prompt": {"text": "hi {who}"}}),
            "endpoints.requests.default.json.prompt.text",
            "unknown placeholder {who}",
        ),
        (_default(json={"n": float("nan")}), "endpoints.requests.default.json.n", "finite"),
        (_default(json={1: "x"}), "endpoints.requests.default.json", "keys must be strings"),
        (_default(body="raw"), "endpoints.requests.default.body", "not both"),
        (_default(json=None, body=["x"]), "endpoints.requests.default.body", "must be a string"),
        (_default(json=None, body="{seq"), "endpoints.requests.default.body", "single '{'"),
        (_default(method="HEAD"), "endpoints.requests.default.method", "no body"),
        (_default(extra=1), "endpoints.requests.default.extra", "unknown field"),
        (_endpoints(base_url="ftp://h"), "endpoints.base_url", "http"),
        (_endpoints(base_url="http://h:99999"), "endpoints.base_url", "port"),
        (_endpoints(base_url="http://h/x?y=1"), "endpoints.base_url", "query"),
        (_endpoints(base_url=None), "endpoints.base_url", "non-empty string"),
        (_endpoints(health_url="h"), "endpoints.health_url", "http"),
        (_endpoints(requests={}), "endpoints.requests", "non-empty"),
        (_endpoints(requests={"default": "GET /"}), "endpoints.requests.default", "mapping"),
        (_endpoints(outcomes={"rejected_statuses": []}), "endpoints.outcomes.rejected_statuses", "non-empty"),
        (
            _endpoints(outcomes={"rejected_statuses": [429, 200]}),
            "endpoints.outcomes.rejected_statuses[1]",
            "400",
        ),
        (_endpoints(outcomes={"degraded": {}}), "endpoints.outcomes.degraded", "exactly one"),
        (
            _endpoints(outcomes={"degraded": {"header": "X-D", "json_field": "d"}}),
            "endpoints.outcomes.degraded",
            "exactly one",
        ),
        (
            _endpoints(outcomes={"degraded": {"header": "X D"}}),
            "endpoints.outcomes.degraded.header",
            "header name",
        ),
        (
            _endpoints(outcomes={"degraded": {"body": "x"}}),
            "endpoints.outcomes.degraded.body",
            "unknown field",
        ),
        (_endpoints(outcomes={"served_by_header": ""}), "endpoints.outcomes.served_by_header", "non-empty"),
        (_endpoints(outcomes={"retry": 1}), "endpoints.outcomes.retry", "unknown field"),
        (_endpoints(toxiproxy=[]), "endpoints.toxiproxy", "unknown field"),
        ([], "endpoints", "mapping"),
    ],
)
def test_bad_input_names_the_field(data: Any, field: str, words: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_endpoints(data, SOURCE)
    assert info.value.source == SOURCE
    assert info.value.field == field
    assert words in info.value.problem, info.value.problem
    assert str(info.value).startswith(f"{SOURCE}: {field}: ")


def test_placeholders_split_into_literals_and_slots() -> None:
    assert split_placeholders("/a/{user}?n={seq}", SOURCE, "f") == ("/a/", Slot("user"), "?n=", Slot("seq"))
    assert split_placeholders("{{literal}} {stream}}}", SOURCE, "f") == ("{literal} ", Slot("stream"), "}")
    assert split_placeholders("{tenant}{priority}", SOURCE, "f") == (Slot("tenant"), Slot("priority"))
    assert split_placeholders("", SOURCE, "f") == ()


def test_load_endpoints_reads_a_system_file_or_a_bare_mapping(tmp_path: Path) -> None:
    system = tmp_path / "system.yaml"
    system.write_text(
        "apiVersion: chaosdrill.io/v1\nkind: System\nname: svc\n"
        "endpoints:\n  base_url: http://127.0.0.1:9\n  requests:\n    default: {path: /x}\n"
    )
    bare = tmp_path / "endpoints.json"
    bare.write_text(json.dumps({"base_url": "http://127.0.0.1:9", "requests": {"default": {"path": "/x"}}}))
    assert load_endpoints(system) == load_endpoints(bare)
    with pytest.raises(BadInput) as info:
        load_endpoints(bare, section_required=True)
    assert (info.value.source, info.value.field) == (str(bare), "endpoints")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        'endpoints:\n  base_url: http://127.0.0.1:9\n  requests:\n    default: {path: "/{x}"}\n'
    )
    with pytest.raises(BadInput) as info:
        load_endpoints(broken)
    assert str(info.value).startswith(f"{broken}: endpoints.requests.default.path: unknown placeholder {{x}}")


def test_endpoints_for_reads_the_selected_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOSDRILL_SYSTEM", raising=False)
    system = tmp_path / "system.yaml"
    system.write_text(
        "apiVersion: chaosdrill.io/v1\nkind: System\nname: api\n"
        "endpoints:\n  base_url: http://127.0.0.1:9/api\n  requests:\n    default: {path: /x}\n"
    )
    assert endpoints_for(None) is None
    assert endpoints_for({"chaosdrill_target": "sandbox", "chaosdrill_system": str(system)}) is None
    found = endpoints_for({"chaosdrill_target": "system", "chaosdrill_system": str(system)})
    assert found is not None and found.base_url == "http://127.0.0.1:9/api"
    with pytest.raises(BadInput) as info:
        endpoints_for({"chaosdrill_target": "system"})
    assert info.value.field == "configuration.chaosdrill_system"
    monkeypatch.setenv("CHAOSDRILL_SYSTEM", str(system))
    assert endpoints_for({"chaosdrill_target": "system"}) == found


def test_with_base_url_checks_the_override() -> None:
    e = parse_endpoints(_endpoints(), SOURCE)
    assert e.with_base_url("http://10.0.0.1:81").base_url == "http://10.0.0.1:81/"
    with pytest.raises(BadInput) as info:
        e.with_base_url("nope", "<argument>", "--url")
    assert (info.value.source, info.value.field) == ("<argument>", "--url")
