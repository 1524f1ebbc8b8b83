"""Request templates compiled into request bytes, once per stream, so the hot path only formats.

The engine must send tens of thousands of requests a second from one Python process, so a
template is not interpreted per request. Per stream, the values that never change (tenant,
stream name, priority, Host) are filled in and escaped for where they stand (percent-encoded
in the path, JSON-escaped inside a JSON string, as is in a header), and what is left becomes
one ``str.format`` string for the head and one for the body, with slots only for the user
and the sequence number. Those two are ``u<digits>`` and digits, safe in every position, so
they need no escaping. A template without ``{seq}`` renders once per user and is cached, as
the sandbox's fixed requests always were.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from chaosdrill.errors import BadInput
from chaosdrill.load.profile import Profile, Stream
from chaosdrill.load.template import Endpoints, Part, RequestTemplate, Slot, split_placeholders

__all__ = [
    "USER_AGENT",
    "StreamRequests",
    "compile_request",
    "read_requests_for",
    "requests_for",
    "sandbox_template",
]

USER_AGENT = "chaosdrill-load"
_PER_REQUEST = {"user": "{0}", "seq": "{1}"}
_NO_BODY_METHODS = ("GET", "HEAD", "DELETE")  # no body: no Content-Length either

Escape = Callable[[str], str]


def _as_is(value: str) -> str:
    return value


def _path_escape(value: str) -> str:
    return quote(value, safe="")


def _json_escape(value: str) -> str:
    return json.dumps(value)[1:-1]


class StreamRequests:
    """One stream's requests: ``render(user_index, seq)`` is the complete request bytes."""

    __slots__ = ("render", "uses_seq", "uses_user")

    def __init__(self, render: Callable[[int, int], bytes], uses_user: bool, uses_seq: bool) -> None:
        self.render = render
        self.uses_user = uses_user
        self.uses_seq = uses_seq


class _Binder:
    """Fills one stream's constant placeholders into template strings."""

    def __init__(self, stream: Stream, where: str) -> None:
        self.values = {"tenant": stream.tenant, "stream": stream.name, "priority": stream.priority.value}
        self.where = where

    def bind(self, text: str, escape: Escape, field: str, *, header: bool = False) -> list[Part]:
        """``text`` with this stream's values escaped by ``escape``. Literals were checked when the
        template was read, and are escaped only inside JSON strings (where quotes must be)."""
        out: list[Part] = []
        for part in split_placeholders(text, "<template>", field):
            if isinstance(part, str):
                out.append(_json_escape(part) if escape is _json_escape else part)
            elif part.name in _PER_REQUEST:
                out.append(part)
            else:
                value = self.values[part.name]
                if header and not (value.isascii() and value.isprintable()):
                    raise BadInput(
                        "<profile>",
                        f"{self.where}.{'name' if part.name == 'stream' else part.name}",
                        f"is sent in header {field} of the request template, so must be printable ASCII: {value!r}",
                    )
                out.append(escape(value))
        return out


def _json_parts(value: Any, binder: _Binder, field: str) -> list[Part]:
    """``value`` serialised exactly as ``json.dumps`` does, with slots left inside strings."""
    if isinstance(value, str):
        return ['"', *binder.bind(value, _json_escape, field), '"']
    if isinstance(value, dict):
        out: list[Part] = ["{"]
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(", ")
            out += ['"', *binder.bind(key, _json_escape, field), '": ']
            out += _json_parts(item, binder, f"{field}.{key}")
        return [*out, "}"]
    if isinstance(value, list):
        out = ["["]
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            out += _json_parts(item, binder, f"{field}[{i}]")
        return [*out, "]"]
    return [json.dumps(value)]


def _format_string(parts: Sequence[Part]) -> tuple[str, set[str]]:
    """A ``str.format`` string: literals with braces doubled, ``{0}`` user, ``{1}`` seq."""
    pieces: list[str] = []
    used: set[str] = set()
    for part in parts:
        if isinstance(part, Slot):
            pieces.append(_PER_REQUEST[part.name])
            used.add(part.name)
        else:
            pieces.append(part.replace("{", "{{").replace("}", "}}"))
    return "".join(pieces), used


def compile_request(
    template: RequestTemplate, stream: Stream, *, host_header: str, prefix: str, where: str = "streams[?]"
) -> StreamRequests:
    """Compile ``template`` for ``stream``; ``prefix`` is the base URL's path, without a trailing /."""
    binder = _Binder(stream, where)
    head: list[Part] = [template.method, " ", prefix]
    head += binder.bind(template.path, _path_escape, "path")
    head.append(" HTTP/1.1\r\n")
    if template.header("Host") is None:
        head.append(f"Host: {host_header}\r\n")
    for name, value in template.headers:
        head += [f"{name}: ", *binder.bind(value, _as_is, name, header=True), "\r\n"]
    if template.has_json and template.header("Content-Type") is None:
        head.append("Content-Type: application/json\r\n")
    if template.header("User-Agent") is None:
        head.append(f"User-Agent: {USER_AGENT}\r\n")

    body: list[Part] | None = None
    if template.json_body is not None:
        body = _json_parts(template.json_body, binder, "json")
    elif template.raw_body is not None:
        body = binder.bind(template.raw_body, _as_is, "body")
    body_fmt, body_used = _format_string(body or [])
    with_length = body is not None or template.method not in _NO_BODY_METHODS
    user_id = stream.user_id

    if body_used:  # the length changes per request
        head_fmt, head_used = _format_string(head)
        head_fmt += "Content-Length: {2}\r\n\r\n"
        used = head_used | body_used

        def render_dynamic(user: int, seq: int) -> bytes:
            uid = user_id(user)
            payload = body_fmt.format(uid, seq).encode()
            return head_fmt.format(uid, seq, len(payload)).encode("latin-1") + payload

        return StreamRequests(render_dynamic, "user" in used, "seq" in used)

    payload = body_fmt.format().encode()
    if with_length:
        head.append(f"Content-Length: {len(payload)}\r\n")
    head.append("\r\n")
    head_fmt, used = _format_string(head)
    if not used:
        constant = head_fmt.format().encode("latin-1") + payload
        return StreamRequests(lambda _user, _seq: constant, False, False)

    def render(user: int, seq: int) -> bytes:
        return head_fmt.format(user_id(user), seq).encode("latin-1") + payload

    return StreamRequests(render, "user" in used, "seq" in used)


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def sandbox_template(stream: Stream, path: str) -> RequestTemplate:
    """The sandbox's contract as a template: POST ``{prompt, max_tokens}`` with tenant, user and
    priority headers; the stream's prompt and max_tokens are literals."""
    prompt: Any = _literal(stream.prompt)
    return RequestTemplate(
        path=_literal(path),
        method="POST",
        headers=(("X-Tenant", "{tenant}"), ("X-User", "{user}"), ("X-Priority", "{priority}")),
        json_body={"prompt": prompt, "max_tokens": stream.max_tokens},
    )


def _template_of(stream: Stream, path: str, endpoints: Endpoints | None) -> tuple[RequestTemplate, str]:
    if endpoints is None:
        return sandbox_template(stream, path), ""
    return endpoints.template_for(stream.name), path.rstrip("/")


def requests_for(
    profile: Profile, host_header: str, path: str, endpoints: Endpoints | None
) -> list[StreamRequests]:
    """Each stream's compiled requests: its own template, the ``default`` one, or (without
    endpoints) the sandbox's contract at ``path``. A session stream's writes also carry the
    user's sequence number in the tracking's seq header (``{seq}`` is then the user's own)."""
    out: list[StreamRequests] = []
    seq_header = None if profile.tracking is None else profile.tracking.seq
    for i, stream in enumerate(profile.streams):
        template, prefix = _template_of(stream, path, endpoints)
        if stream.session and seq_header is not None and template.header(seq_header) is None:
            template = replace(template, headers=(*template.headers, (seq_header, "{seq}")))
        out.append(
            compile_request(template, stream, host_header=host_header, prefix=prefix, where=f"streams[{i}]")
        )
    return out


def read_requests_for(
    profile: Profile, host_header: str, path: str, endpoints: Endpoints | None
) -> list[StreamRequests | None]:
    """Each session stream's read-back request (None for other streams): ``GET`` of the
    tracking's read path, with the stream's own headers (tenant, user, ...) that do not carry
    ``{seq}``, so it is routed as the user's writes are."""
    out: list[StreamRequests | None] = []
    tracking = profile.tracking
    for i, stream in enumerate(profile.streams):
        if not stream.session or tracking is None or tracking.read_path is None:
            out.append(None)
            continue
        template, prefix = _template_of(stream, path, endpoints)
        skip = {"content-type", (tracking.seq or "").lower()}
        headers = tuple((k, v) for k, v in template.headers if k.lower() not in skip and "{seq}" not in v)
        read = RequestTemplate(path=tracking.read_path, method="GET", headers=headers)
        # The sandbox's writes go to the edge at the profile's path; its read path is absolute.
        out.append(
            compile_request(read, stream, host_header=host_header, prefix=prefix, where=f"streams[{i}]")
        )
    return out
