"""Request templates rendered to bytes: placeholders, escaping, framing, and the sandbox contract."""

import json
from typing import Any

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.load.profile import Profile, Stream, parse_profile
from chaosdrill.load.render import requests_for
from chaosdrill.load.template import parse_endpoints

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

HOST = "127.0.0.1:8080"


def _profile(*streams: dict[str, Any]) -> Profile:
    return parse_profile(
        {
            "url": "http://127.0.0.1:8080/v1/generate",
            "duration_s": 1,
            "streams": list(streams) or [{"name": "s", "rate": 1}],
        }
    )


def _render(
    template: dict[str, Any], stream: dict[str, Any] | None = None, user: int = 2, seq: int = 41
) -> bytes:
    endpoints = parse_endpoints(
        {"base_url": "http://127.0.0.1:8080/api", "requests": {"default": template}}, "t"
    )
    (requests,) = requests_for(_profile(stream or {"name": "s", "rate": 1}), HOST, "/api/", endpoints)
    return requests.render(user, seq)


def _split(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    line, *fields = head.decode("latin-1").split("\r\n")
    return line, dict(f.split(": ", 1) for f in fields), body


def _old_contract(path: str, stream: Stream, user: str) -> bytes:
    """The request the engine built before templates existed, written out by hand."""
    body = json.dumps({"prompt": stream.prompt, "max_tokens": stream.max_tokens}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nX-Tenant: {stream.tenant}\r\nX-User: {user}\r\n"
        f"X-Priority: {stream.priority.value}\r\nContent-Type: application/json\r\n"
        f"User-Agent: chaosdrill-load\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@pytest.mark.parametrize(
    "stream",
    [
        {"name": "chat", "rate": 1, "tenant": "acme", "users": 3},
        {
            "name": "bulk",
            "rate": 1,
            "tenant": 'a"b',
            "priority": "batch",
            "max_tokens": 7,
            "prompt": 'say "{x}" é 😀',
        },
    ],
)
@pytest.mark.parametrize("path", ["/v1/generate", "/v1/generate?q={literal}"])
def test_without_endpoints_the_sandbox_contract_is_sent_byte_for_byte(
    stream: dict[str, Any], path: str
) -> None:
    profile = _profile(stream)
    (requests,) = requests_for(profile, HOST, path, None)
    assert not requests.uses_seq
    for user in range(3):
        assert requests.render(user, 99) == _old_contract(path, profile.streams[0], f"u{user}")


def test_placeholders_fill_path_headers_and_json_strings() -> None:
    raw = _render(
        {
            "method": "PUT",
            "path": "/items/{user}?n={seq}&t={tenant}&s={stream}",
            "headers": {"X-Who": "{user}@{tenant}", "X-Prio": "{priority}"},
            "json": {"q": "{user} #{seq}", "{stream}": ["{tenant}", 1, 2.5, True, None]},
        },
        {"name": "s1", "rate": 1, "tenant": "acme", "priority": "batch", "users": 5},
    )
    line, headers, body = _split(raw)
    assert line == "PUT /api/items/u2?n=41&t=acme&s=s1 HTTP/1.1"
    assert headers["X-Who"] == "u2@acme" and headers["X-Prio"] == "batch"
    assert headers["Host"] == HOST and headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"q": "u2 #41", "s1": ["acme", 1, 2.5, True, None]}


def test_values_with_quotes_are_escaped_for_where_they_stand() -> None:
    tenant = 'acme "corp" & co/x'
    raw = _render(
        {"path": "/t/{tenant}", "headers": {"X-Tenant": "{tenant}"}, "json": {"tenant": "<{tenant}>"}},
        {"name": "s", "rate": 1, "tenant": tenant},
    )
    line, headers, body = _split(raw)
    assert line == "POST /api/t/acme%20%22corp%22%20%26%20co%2Fx HTTP/1.1"
    assert headers["X-Tenant"] == tenant
    assert json.loads(body) == {"tenant": f"<{tenant}>"}
    assert int(headers["Content-Length"]) == len(body)


def test_get_and_head_without_body_have_no_content_length() -> None:
    for method in ("GET", "HEAD", "DELETE"):
        raw = _render({"method": method, "path": "/items/{user}?n={seq}"})
        line, headers, body = _split(raw)
        assert line == f"{method} /api/items/u2?n=41 HTTP/1.1"
        assert body == b"" and "Content-Length" not in headers and "Content-Type" not in headers
        assert raw.endswith(b"\r\n\r\n")


def test_post_without_body_says_length_zero() -> None:
    _, headers, body = _split(_render({"method": "POST", "path": "/x"}))
    assert headers["Content-Length"] == "0" and body == b""


def test_raw_body_length_counts_bytes_not_characters() -> None:
    raw = _render(
        {"path": "/x", "body": "héllo {user} {{not a slot}}", "headers": {"Content-Type": "text/plain"}}
    )
    _, headers, body = _split(raw)
    assert body == "héllo u2 {not a slot}".encode()
    assert int(headers["Content-Length"]) == len(body) == len("héllo u2 {not a slot}") + 1
    assert headers["Content-Type"] == "text/plain"  # the template's own, not application/json


def test_template_headers_replace_host_and_user_agent() -> None:
    _, headers, _ = _split(
        _render({"path": "/x", "headers": {"host": "svc.internal", "User-Agent": "drill/1"}})
    )
    assert headers["host"] == "svc.internal" and "Host" not in headers
    assert headers["User-Agent"] == "drill/1"


def test_only_seq_templates_render_per_request() -> None:
    endpoints = parse_endpoints(
        {
            "base_url": "http://h:1",
            "requests": {
                "default": {"path": "/fixed"},
                "by-user": {"path": "/u/{user}"},
                "by-seq": {"path": "/x", "json": {"n": "{seq}"}},
            },
        },
        "t",
    )
    profile = _profile(
        {"name": "fixed", "rate": 1}, {"name": "by-user", "rate": 1}, {"name": "by-seq", "rate": 1}
    )
    fixed, by_user, by_seq = requests_for(profile, "h:1", "/", endpoints)
    assert (fixed.uses_user, fixed.uses_seq) == (False, False)
    assert (by_user.uses_user, by_user.uses_seq) == (True, False)
    assert (by_seq.uses_user, by_seq.uses_seq) == (False, True)
    assert by_seq.render(0, 9) != by_seq.render(0, 10)
    assert _split(by_seq.render(0, 12345))[1]["Content-Length"] == str(len(b'{"n": "12345"}'))


def test_a_stream_value_unfit_for_a_header_names_the_stream_field() -> None:
    with pytest.raises(BadInput) as info:
        _render({"path": "/x", "headers": {"X-Stream": "{stream}"}}, {"name": "chät", "rate": 1})
    assert info.value.field == "streams[0].name" and "X-Stream" in info.value.problem
