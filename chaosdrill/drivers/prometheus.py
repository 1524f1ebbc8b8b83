"""A typed client for the Prometheus HTTP API (``/api/v1``): instant and range queries, rule
groups and active alerts.

Why our own: the probes need three things no generic client gives together: timeouts on
every call, typed results rather than nested dicts, and errors that tell a drill's author
what to fix. A query Prometheus cannot parse is the author's mistake, so it is a
:class:`QueryError` (a ``BadInput``) quoting the query and Prometheus' own message; a server
that does not answer is :class:`~chaosdrill.drivers.http_endpoint.Unreachable`, naming the
URL; a 5xx or a timeout is a ``TemporaryError`` worth retrying.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from chaosdrill.drivers.http_endpoint import ApiClient, Reply, call
from chaosdrill.drivers.timestamps import parse_rfc3339
from chaosdrill.errors import BadInput, PermanentError, TemporaryError

__all__ = [
    "ActiveAlert",
    "PrometheusClient",
    "QueryError",
    "QueryResult",
    "Rule",
    "RuleGroup",
    "Sample",
    "Series",
    "parse_alerts",
    "parse_query_result",
    "parse_range_result",
    "parse_rule_groups",
]

WHAT = "Prometheus"
# Errors Prometheus reports about the query itself rather than about its own health.
QUERY_ERROR_TYPES = frozenset({"bad_data", "execution"})
RETRYABLE_ERROR_TYPES = frozenset({"timeout", "canceled", "unavailable", "internal"})


class QueryError(BadInput):
    """Prometheus refused a query: the message quotes the query and Prometheus' own words."""

    def __init__(self, query: str, error_type: str, message: str, url: str) -> None:
        self.query = query
        self.error_type = error_type
        self.prometheus_message = message
        super().__init__(
            "<argument>", "query", f"Prometheus at {url} rejected {query!r}: {error_type}: {message}"
        )


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: dict[str, str]
    value: float
    at: float


@dataclass(frozen=True)
class Series:
    """One series of a matrix: its labels and its ``(unix seconds, value)`` points, oldest first."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class QueryResult:
    """An instant query's answer: ``samples`` for a vector or scalar, ``series`` for a matrix
    (a range selector such as ``ALERTS[5m]``), ``text`` for a string."""

    result_type: Literal["vector", "scalar", "matrix", "string"]
    samples: tuple[Sample, ...] = ()
    series: tuple[Series, ...] = ()
    text: str | None = None


@dataclass(frozen=True)
class ActiveAlert:
    """A pending or firing alert as Prometheus holds it; ``active_at`` is when it went pending."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    active_at: float | None
    value: float


@dataclass(frozen=True)
class Rule:
    name: str
    kind: Literal["alerting", "recording"]
    query: str
    health: str
    last_error: str | None
    labels: dict[str, str]
    for_s: float = 0.0
    state: str | None = None  # alerting rules: inactive, pending or firing
    alerts: tuple[ActiveAlert, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str
    interval_s: float
    rules: tuple[Rule, ...]


# --- parsing the API's JSON (pure, so it is tested without a server) --------------------------


class _Shape(PermanentError):
    """An answer that does not have the shape of the Prometheus API."""


def _str_map(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected a label mapping, got {type(raw).__name__}")
    return {str(k): str(v) for k, v in raw.items()}


def _value(raw: Any) -> float:
    """Prometheus writes sample values as strings ("1", "NaN", "+Inf")."""
    try:
        return float(raw)
    except (TypeError, ValueError) as e:
        raise _Shape(f"expected a sample value, got {raw!r}") from e


def _point(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise _Shape(f"expected [time, value], got {raw!r}")
    return _value(raw[0]), _value(raw[1])


def _series(raw: Any) -> Series:
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected a series, got {type(raw).__name__}")
    return Series(_str_map(raw.get("metric")), tuple(_point(p) for p in raw.get("values") or ()))


def parse_query_result(data: Any) -> QueryResult:
    """The ``data`` of ``/api/v1/query``."""
    if not isinstance(data, Mapping):
        raise _Shape(f"expected query data, got {type(data).__name__}")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        samples = []
        for item in result or ():
            at, value = _point(item.get("value") if isinstance(item, Mapping) else None)
            samples.append(Sample(_str_map(item.get("metric")), value, at))
        return QueryResult("vector", samples=tuple(samples))
    if kind == "scalar":
        at, value = _point(result)
        return QueryResult("scalar", samples=(Sample({}, value, at),))
    if kind == "matrix":
        return QueryResult("matrix", series=tuple(_series(s) for s in result or ()))
    if kind == "string":
        if not isinstance(result, list | tuple) or len(result) != 2:
            raise _Shape(f"expected [time, text], got {result!r}")
        return QueryResult("string", text=str(result[1]))
    raise _Shape(f"unknown resultType {kind!r}")


def parse_range_result(data: Any) -> tuple[Series, ...]:
    """The ``data`` of ``/api/v1/query_range`` (always a matrix)."""
    parsed = parse_query_result(data)
    if parsed.result_type != "matrix":
        raise _Shape(f"a range query answered a {parsed.result_type}, not a matrix")
    return parsed.series


def _alert(raw: Any) -> ActiveAlert:
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected an alert, got {type(raw).__name__}")
    labels = _str_map(raw.get("labels"))
    try:
        active_at = parse_rfc3339(raw.get("activeAt"))
    except ValueError as e:
        raise _Shape(str(e)) from e
    raw_value = raw.get("value")
    return ActiveAlert(
        name=labels.get("alertname", ""),
        labels=labels,
        annotations=_str_map(raw.get("annotations")),
        state=str(raw.get("state", "")),
        active_at=active_at,
        value=_value(raw_value) if raw_value is not None else math.nan,
    )


def parse_alerts(data: Any) -> tuple[ActiveAlert, ...]:
    """The ``data`` of ``/api/v1/alerts``."""
    if not isinstance(data, Mapping):
        raise _Shape(f"expected alerts data, got {type(data).__name__}")
    return tuple(_alert(a) for a in data.get("alerts") or ())


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected a rule, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in ("alerting", "recording"):
        raise _Shape(f"unknown rule type {kind!r}")
    name = str(raw.get("name", ""))
    query = str(raw.get("query", ""))
    health = str(raw.get("health", ""))
    last_error = str(raw["lastError"]) if raw.get("lastError") else None
    labels = _str_map(raw.get("labels"))
    if kind == "recording":
        return Rule(name, "recording", query, health, last_error, labels)
    return Rule(
        name,
        "alerting",
        query,
        health,
        last_error,
        labels,
        for_s=float(raw.get("duration") or 0.0),
        state=str(raw.get("state", "")) or None,
        alerts=tuple(_alert(a) for a in raw.get("alerts") or ()),
    )


def parse_rule_groups(data: Any) -> tuple[RuleGroup, ...]:
    """The ``data`` of ``/api/v1/rules``."""
    if not isinstance(data, Mapping):
        raise _Shape(f"expected rules data, got {type(data).__name__}")
    groups = []
    for g in data.get("groups") or ():
        if not isinstance(g, Mapping):
            raise _Shape(f"expected a rule group, got {type(g).__name__}")
        groups.append(
            RuleGroup(
                name=str(g.get("name", "")),
                file=str(g.get("file", "")),
                interval_s=float(g.get("interval") or 0.0),
                rules=tuple(_rule(r) for r in g.get("rules") or ()),
            )
        )
    return tuple(groups)


def _seconds(t: float) -> str:
    """Unix seconds to the millisecond, the precision Prometheus keeps."""
    return f"{t:.3f}"


# --- the client -------------------------------------------------------------------------------


class PrometheusClient(ApiClient):
    """One Prometheus server. Use it as a context manager, or call :meth:`close`."""

    def _api(self, path: str, *, query: str | None = None, form: Mapping[str, str] | None = None) -> Any:
        """POST a form (queries: no URL length limit) or GET, and return the answer's ``data``."""
        method = "POST" if form is not None else "GET"
        reply = call(self._http, self.endpoint, WHAT, method, path, timeout_s=self.timeout_s, data=form)
        body = reply.body
        if isinstance(body, Mapping) and body.get("status") == "success":
            return body.get("data")
        if isinstance(body, Mapping) and body.get("status") == "error":
            self._raise_api_error(path, reply, body, query)
        raise self._error(
            PermanentError,
            f"{path} answered HTTP {reply.status} without the Prometheus API's JSON "
            f"(is {self.url} a Prometheus, with the right path prefix?): {reply.excerpt()}",
        )

    def _raise_api_error(
        self, path: str, reply: Reply, body: Mapping[str, Any], query: str | None
    ) -> NoReturn:
        error_type = str(body.get("errorType", ""))
        message = str(body.get("error", ""))
        if query is not None and error_type in QUERY_ERROR_TYPES:
            raise QueryError(query, error_type, self.endpoint.redact(message), self.url)
        retryable = error_type in RETRYABLE_ERROR_TYPES or reply.status >= 500
        raise self._error(
            TemporaryError if retryable else PermanentError,
            f"{path} failed (HTTP {reply.status}, {error_type}): {message}",
        )

    def _error(self, kind: type[PermanentError] | type[TemporaryError], text: str) -> Exception:
        return kind(self.endpoint.redact(f"{WHAT} at {self.url}: {text}"))

    def _parsed(self, what: str, parse: Any, data: Any) -> Any:
        try:
            return parse(data)
        except _Shape as e:
            raise self._error(PermanentError, f"{what} answered an unexpected shape: {e}") from e

    def query(self, query: str, at: float | None = None) -> QueryResult:
        """Evaluate ``query`` at ``at`` (Unix seconds; now by default)."""
        form = {"query": query, "timeout": f"{self.timeout_s:g}s"}
        if at is not None:
            form["time"] = _seconds(at)
        data = self._api("/api/v1/query", query=query, form=form)
        result: QueryResult = self._parsed("/api/v1/query", parse_query_result, data)
        return result

    def query_range(self, query: str, start: float, end: float, step_s: float) -> tuple[Series, ...]:
        """Evaluate ``query`` at ``start``, ``start + step_s``, ... up to ``end`` (inclusive)."""
        form = {
            "query": query,
            "start": _seconds(start),
            "end": _seconds(end),
            "step": f"{step_s:g}",
            "timeout": f"{self.timeout_s:g}s",
        }
        data = self._api("/api/v1/query_range", query=query, form=form)
        series: tuple[Series, ...] = self._parsed("/api/v1/query_range", parse_range_result, data)
        return series

    def rule_groups(self, kind: Literal["alert", "record"] | None = None) -> tuple[RuleGroup, ...]:
        """The loaded rule groups (only alerting or recording rules if ``kind`` says so)."""
        path = "/api/v1/rules" + (f"?type={kind}" if kind else "")
        groups: tuple[RuleGroup, ...] = self._parsed("/api/v1/rules", parse_rule_groups, self._api(path))
        return groups

    def alerts(self) -> tuple[ActiveAlert, ...]:
        """Every pending or firing alert now."""
        found: tuple[ActiveAlert, ...] = self._parsed(
            "/api/v1/alerts", parse_alerts, self._api("/api/v1/alerts")
        )
        return found

    def ready(self) -> bool:
        """True once Prometheus serves queries (``/-/ready``); raises if nothing answers."""
        return (
            call(self._http, self.endpoint, WHAT, "GET", "/-/ready", timeout_s=self.timeout_s).status == 200
        )
