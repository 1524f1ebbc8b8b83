"""Request templates and outcome rules: how to load a service that has its own API.

The load generator was born speaking one contract (the sandbox's ``POST {prompt,
max_tokens}`` and its ``X-Chaosdrill-Degraded`` header). A team's service has its own
paths, methods, headers and bodies, and its own way of saying "this answer is a fallback",
so both halves of the exchange are data here: a :class:`RequestTemplate` per stream and
one set of :class:`OutcomeRules`, read from the ``endpoints`` section of a system file.

Everything is checked when it is read, so a typo fails before a request is sent, and every
problem is a :class:`BadInput` naming the field (``endpoints.requests.default.path``).
Templates are only parsed here; ``chaosdrill.load.render`` turns them into request bytes.
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaosdrill.errors import BadInput
from chaosdrill.load.profile import read_data_file

__all__ = [
    "DEFAULT_TEMPLATE",
    "METHODS",
    "PLACEHOLDERS",
    "SANDBOX_DEGRADED_HEADER",
    "SANDBOX_RULES",
    "Endpoints",
    "OutcomeRules",
    "Part",
    "RequestTemplate",
    "Slot",
    "check_base_url",
    "load_endpoints",
    "parse_endpoints",
    "split_placeholders",
]

DEFAULT_TEMPLATE = "default"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
# {priority} goes beyond the four the system file spec lists: the sandbox sheds batch
# traffic first, so its own system file needs the stream's priority in a header.
PLACEHOLDERS = ("user", "tenant", "seq", "stream", "priority")
SANDBOX_DEGRADED_HEADER = "X-Chaosdrill-Degraded"
# Framing is the client's job: a template that set these could desynchronise the connection.
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_KNOWN = ", ".join("{" + p + "}" for p in PLACEHOLDERS)


@dataclass(frozen=True)
class Slot:
    """A placeholder in a template string, filled per request (user, seq) or per stream."""

    name: str


Part = str | Slot


def split_placeholders(text: str, source: str, where: str) -> tuple[Part, ...]:
    """``text`` as literal strings and :class:`Slot` s; ``{{`` and ``}}`` are literal braces."""
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    for match in _BRACES.finditer(text):
        literal.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1) is None:
            raise BadInput(
                source, where, f"a single {token!r} in {text!r}: write {token * 2} for a literal brace"
            )
        elif match.group(1) in PLACEHOLDERS:
            parts.append("".join(literal))
            literal.clear()
            parts.append(Slot(match.group(1)))
        else:
            raise BadInput(
                source,
                where,
                f"unknown placeholder {token} in {text!r} (known: {_KNOWN}; write {{{{ and }}}} for literal braces)",
            )
    literal.append(text[pos:])
    parts.append("".join(literal))
    return tuple(p for p in parts if p != "")


@dataclass(frozen=True)
class RequestTemplate:
    """One kind of request. ``json_body`` (a JSON value) and ``raw_body`` (text) exclude each other.

    Placeholders may appear in the path, in header values and inside strings of the body.
    """

    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    raw_body: str | None = None

    @property
    def has_json(self) -> bool:
        return self.json_body is not None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def to_dict(self) -> dict[str, Any]:
        """The mapping :func:`parse_endpoints` reads back into an equal template."""
        out: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.json_body is not None:
            out["json"] = self.json_body
        if self.raw_body is not None:
            out["body"] = self.raw_body
        return out


@dataclass(frozen=True)
class OutcomeRules:
    """How an answer is judged beyond its status.

    A 2xx is ok, or degraded when ``degraded_header`` is present or the top-level JSON field
    ``degraded_json_field`` is truthy (at most one of the two). A status in
    ``rejected_statuses`` is rejected (a 429 is also checked for Retry-After). Anything else is
    an error. ``served_by_header`` names the header that says which DC answered.
    """

    rejected_statuses: tuple[int, ...] = (429,)
    degraded_header: str | None = None
    degraded_json_field: str | None = None
    served_by_header: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rejected_statuses": list(self.rejected_statuses)}
        if self.degraded_header is not None:
            out["degraded"] = {"header": self.degraded_header}
        elif self.degraded_json_field is not None:
            out["degraded"] = {"json_field": self.degraded_json_field}
        if self.served_by_header is not None:
            out["served_by_header"] = self.served_by_header
        return out


# The sandbox's contract: its degraded answers carry X-Chaosdrill-Degraded.
SANDBOX_RULES = OutcomeRules(degraded_header=SANDBOX_DEGRADED_HEADER)


@dataclass(frozen=True)
class Endpoints:
    """Where load goes and what it sends: the ``endpoints`` section of a system file."""

    base_url: str
    requests: Mapping[str, RequestTemplate]
    outcomes: OutcomeRules = field(default_factory=OutcomeRules)
    health_url: str | None = None

    def template_for(self, stream: str, source: str = "<endpoints>") -> RequestTemplate:
        """The stream's own template, else the ``default`` one."""
        found = self.requests.get(stream) or self.requests.get(DEFAULT_TEMPLATE)
        if found is None:
            names = ", ".join(sorted(self.requests))
            raise BadInput(
                source,
                "endpoints.requests",
                f"no template for stream {stream!r} and no {DEFAULT_TEMPLATE!r} one (templates: {names})",
            )
        return found

    def check_streams(self, streams: Sequence[str], source: str = "<endpoints>") -> None:
        """Every stream finds a template (before any process is started for them)."""
        for name in streams:
            self.template_for(name, source)

    def with_base_url(self, url: str, source: str = "<argument>", where: str = "url") -> "Endpoints":
        """The same endpoints aimed at another URL (an experiment's override)."""
        return replace(self, base_url=check_base_url(url, source, where))

    def to_dict(self) -> dict[str, Any]:
        """The mapping :func:`parse_endpoints` reads back into equal endpoints."""
        out: dict[str, Any] = {"base_url": self.base_url}
        if self.health_url is not None:
            out["health_url"] = self.health_url
        out["requests"] = {name: t.to_dict() for name, t in self.requests.items()}
        out["outcomes"] = self.outcomes.to_dict()
        return out


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Typed reads from one mapping; every error names ``prefix.key``."""

    def __init__(self, source: str, prefix: str, data: Any, known: Sequence[str]) -> None:
        if not isinstance(data, Mapping):
            raise BadInput(source, prefix, f"must be a mapping, got {type(data).__name__}")
        extra = sorted(str(k) for k in data if k not in known)
        if extra:
            raise BadInput(source, f"{prefix}.{extra[0]}", f"unknown field (known: {', '.join(known)})")
        self.source = source
        self.prefix = prefix
        self.data = data

    def where(self, key: str) -> str:
        return f"{self.prefix}.{key}"

    def bad(self, key: str, problem: str) -> BadInput:
        return BadInput(self.source, self.where(key), problem)

    def text(self, key: str, *, required: bool = False) -> str | None:
        raw = self.data.get(key)
        if raw is None:
            if required:
                raise self.bad(key, "is required")
            return None
        if not isinstance(raw, str) or not raw.strip():
            raise self.bad(key, f"must be a non-empty string, got {raw!r}")
        return raw


def check_base_url(url: Any, source: str, where: str) -> str:
    """An http(s) URL with a host, no query or fragment; its path (``/`` at least) is a prefix."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput(source, where, f"must be a non-empty string, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadInput(source, where, f"must be an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise BadInput(source, where, f"has no host: {url!r}")
    try:
        _ = parts.port
    except ValueError as e:
        raise BadInput(source, where, f"bad port in {url!r}: {e}") from None
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise BadInput(
            source, where, f"must not have a query or fragment (put those in a template's path): {url!r}"
        )
    if not _printable_ascii(url) or " " in url:
        raise BadInput(source, where, f"must be printable ASCII without spaces: {url!r}")
    return url if parts.path else url + "/"


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _header_name(name: Any, source: str, where: str) -> str:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise BadInput(source, where, f"{name!r} is not a valid HTTP header name")
    if name.lower() in _RESERVED_HEADERS:
        raise BadInput(source, where, f"{name} is set by the load generator itself; leave it out")
    return name


def _headers(raw: Any, source: str, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise BadInput(source, where, f"must be a mapping of header name to value, got {type(raw).__name__}")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in raw.items():
        at = f"{where}.{name}"
        _header_name(name, source, at)
        if name.lower() in seen:
            raise BadInput(source, at, "is given twice (header names are case-insensitive)")
        seen.add(name.lower())
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadInput(source, at, f"must be a string, got {value!r}")
        text = str(value)
        if not _printable_ascii(text):
            raise BadInput(
                source, at, f"must be printable ASCII (it is sent as an HTTP header), got {text!r}"
            )
        split_placeholders(text, source, at)
        out.append((name, text))
    return tuple(out)


def _path(raw: Any, source: str, where: str) -> str:
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise BadInput(source, where, f"must be a string starting with '/', got {raw!r}")
    if not _printable_ascii(raw) or " " in raw or "#" in raw:
        raise BadInput(
            source, where, f"must be printable ASCII without spaces or '#' (percent-encode the rest): {raw!r}"
        )
    split_placeholders(raw, source, where)
    return raw


def _json_value(value: Any, source: str, where: str) -> None:
    """A JSON value made of what YAML and JSON both mean the same way; strings may hold placeholders."""
    if isinstance(value, str):
        split_placeholders(value, source, where)
    elif value is None or isinstance(value, bool | int):
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(source, where, f"must be a finite number, got {value!r}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_value(item, source, f"{where}[{i}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadInput(source, where, f"keys must be strings, got {key!r}")
            split_placeholders(key, source, f"{where}.{key}")
            _json_value(item, source, f"{where}.{key}")
    else:
        raise BadInput(
            source, where, f"must be JSON (string, number, boolean, null, list, mapping), got {value!r}"
        )


def _template(source: str, prefix: str, data: Any) -> RequestTemplate:
    r = _Reader(source, prefix, data, ("method", "path", "headers", "json", "body"))
    if "json" in data and "body" in data:
        raise r.bad("body", "give either json or body, not both")
    json_body = data.get("json")
    if "json" in data:
        if json_body is None:
            raise r.bad("json", "must be a JSON value (leave the key out for no body)")
        _json_value(json_body, source, r.where("json"))
    raw_body = data.get("body")
    if raw_body is not None:
        if not isinstance(raw_body, str):
            raise r.bad("body", f"must be a string (use json for structured bodies), got {raw_body!r}")
        split_placeholders(raw_body, source, r.where("body"))
    has_body = json_body is not None or raw_body is not None
    method = data.get("method", "POST" if has_body else "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise r.bad("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    method = method.upper()
    if method == "HEAD" and has_body:
        raise r.bad("method", "HEAD requests carry no body; drop json/body or use another method")
    return RequestTemplate(
        path=_path(data.get("path"), source, r.where("path")),
        method=method,
        headers=_headers(data.get("headers"), source, r.where("headers")),
        json_body=json_body,
        raw_body=raw_body,
    )


def _statuses(raw: Any, source: str, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadInput(source, where, f"must be a non-empty list of HTTP statuses, got {raw!r}")
    out: list[int] = []
    for i, status in enumerate(raw):
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise BadInput(source, f"{where}[{i}]", f"must be an HTTP status from 400 to 599, got {status!r}")
        if status not in out:
            out.append(status)
    return tuple(out)


def _outcomes(source: str, prefix: str, data: Any) -> OutcomeRules:
    if data is None:
        return OutcomeRules()
    r = _Reader(source, prefix, data, ("rejected_statuses", "degraded", "served_by_header"))
    rejected = (
        (429,)
        if "rejected_statuses" not in data
        else _statuses(data["rejected_statuses"], source, r.where("rejected_statuses"))
    )
    header = field_name = None
    degraded = data.get("degraded")
    if degraded is not None:
        d = _Reader(source, r.where("degraded"), degraded, ("header", "json_field"))
        header, field_name = d.text("header"), d.text("json_field")
        if (header is None) == (field_name is None):
            raise r.bad("degraded", "give exactly one of header or json_field (leave degraded out for none)")
        if header is not None:
            _header_name(header, source, d.where("header"))
    served_by = r.text("served_by_header")
    if served_by is not None:
        _header_name(served_by, source, r.where("served_by_header"))
    return OutcomeRules(
        rejected_statuses=rejected,
        degraded_header=header,
        degraded_json_field=field_name,
        served_by_header=served_by,
    )


def parse_endpoints(data: Any, source: str) -> Endpoints:
    """Validate the ``endpoints`` mapping of a system file into :class:`Endpoints`."""
    r = _Reader(source, "endpoints", data, ("base_url", "health_url", "requests", "outcomes"))
    base_url = check_base_url(data.get("base_url"), source, r.where("base_url"))
    health_url = r.text("health_url")
    if health_url is not None:
        parts = urlsplit(health_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise r.bad("health_url", f"must be an http:// or https:// URL with a host, got {health_url!r}")
    raw_requests = data.get("requests")
    if not isinstance(raw_requests, Mapping) or not raw_requests:
        raise r.bad("requests", "must be a non-empty mapping of stream name (or default) to request template")
    requests: dict[str, RequestTemplate] = {}
    for name, raw in raw_requests.items():
        if not isinstance(name, str) or not name.strip():
            raise r.bad("requests", f"template names must be non-empty strings, got {name!r}")
        requests[name] = _template(source, f"{r.where('requests')}.{name}", raw)
    return Endpoints(
        base_url=base_url,
        requests=requests,
        outcomes=_outcomes(source, r.where("outcomes"), data.get("outcomes")),
        health_url=health_url,
    )


def load_endpoints(path: Path, *, section_required: bool = False) -> Endpoints:
    """Read endpoints from a YAML or JSON file: a system file (its ``endpoints`` section) or,
    unless ``section_required``, a file holding just the ``endpoints`` mapping."""
    source = str(path)
    data = read_data_file(path)
    if isinstance(data, Mapping) and "endpoints" in data:
        data = data["endpoints"]
    elif section_required:
        raise BadInput(source, "endpoints", "is required (a system file describes its service's endpoints)")
    return parse_endpoints(data, source)
