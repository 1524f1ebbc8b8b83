"""A typed client for the Alertmanager v2 API: the alerts it holds, and its status.

Alertmanager is where an alert meets people: which receivers it was routed to, whether a
silence or an inhibition holds it back. The probes ask it why a notification did not come.
Its status is read for a health check only; the configuration it echoes (which can hold
webhook tokens) is never kept.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaosdrill.drivers.http_endpoint import ApiClient, call
from chaosdrill.drivers.timestamps import parse_rfc3339
from chaosdrill.errors import PermanentError

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerClient",
    "AlertmanagerStatus",
    "parse_alerts",
    "parse_status",
]

WHAT = "Alertmanager"


@dataclass(frozen=True)
class AlertmanagerAlert:
    """An alert Alertmanager holds; ``state`` is active, suppressed or unprocessed."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    fingerprint: str
    state: str
    starts_at: float | None
    ends_at: float | None
    updated_at: float | None
    receivers: tuple[str, ...]
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str
    cluster_status: str  # ready, settling or disabled
    started_at: float | None  # the API's ``uptime`` field is the time it started


class _Shape(PermanentError):
    """An answer that does not have the shape of the Alertmanager API."""


def _str_map(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected a mapping, got {type(raw).__name__}")
    return {str(k): str(v) for k, v in raw.items()}


def _strings(raw: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in raw or ())


def _time(raw: Any) -> float | None:
    try:
        return parse_rfc3339(raw)
    except ValueError as e:
        raise _Shape(str(e)) from e


def _alert(raw: Any) -> AlertmanagerAlert:
    if not isinstance(raw, Mapping):
        raise _Shape(f"expected an alert, got {type(raw).__name__}")
    labels = _str_map(raw.get("labels"))
    status = raw.get("status") or {}
    if not isinstance(status, Mapping):
        raise _Shape(f"expected an alert status, got {type(status).__name__}")
    receivers = tuple(
        str(r.get("name", "")) if isinstance(r, Mapping) else str(r) for r in raw.get("receivers") or ()
    )
    return AlertmanagerAlert(
        name=labels.get("alertname", ""),
        labels=labels,
        annotations=_str_map(raw.get("annotations")),
        fingerprint=str(raw.get("fingerprint", "")),
        state=str(status.get("state", "")),
        starts_at=_time(raw.get("startsAt")),
        ends_at=_time(raw.get("endsAt")),
        updated_at=_time(raw.get("updatedAt")),
        receivers=receivers,
        silenced_by=_strings(status.get("silencedBy")),
        inhibited_by=_strings(status.get("inhibitedBy")),
    )


def parse_alerts(body: Any) -> tuple[AlertmanagerAlert, ...]:
    """The body of ``GET /api/v2/alerts``."""
    if not isinstance(body, list):
        raise _Shape(f"expected a list of alerts, got {type(body).__name__}")
    return tuple(_alert(a) for a in body)


def parse_status(body: Any) -> AlertmanagerStatus:
    """The body of ``GET /api/v2/status``, without its ``config``."""
    if not isinstance(body, Mapping):
        raise _Shape(f"expected a status, got {type(body).__name__}")
    cluster = body.get("cluster") or {}
    version = body.get("versionInfo") or {}
    if not isinstance(cluster, Mapping) or not isinstance(version, Mapping):
        raise _Shape("expected cluster and versionInfo mappings")
    return AlertmanagerStatus(
        version=str(version.get("version", "")),
        cluster_status=str(cluster.get("status", "")),
        started_at=_time(body.get("uptime")),
    )


class AlertmanagerClient(ApiClient):
    """One Alertmanager. Use it as a context manager, or call :meth:`close`."""

    def _get(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        reply = call(self._http, self.endpoint, WHAT, "GET", path, timeout_s=self.timeout_s, params=params)
        if reply.status != 200 or reply.body is None:
            raise PermanentError(
                self.endpoint.redact(
                    f"{WHAT} at {self.url}: GET {path} answered HTTP {reply.status} "
                    f"(is it an Alertmanager, with the right path prefix?): {reply.excerpt()}"
                )
            )
        return reply.body

    def _parsed(self, path: str, parse: Any, body: Any) -> Any:
        try:
            return parse(body)
        except _Shape as e:
            raise PermanentError(f"{WHAT} at {self.url}: {path} answered an unexpected shape: {e}") from e

    def alerts(
        self,
        matchers: Sequence[str] = (),
        *,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
    ) -> tuple[AlertmanagerAlert, ...]:
        """The alerts Alertmanager holds now, optionally filtered by matchers
        (``alertname="X"``) and without the silenced, inhibited or unprocessed ones."""
        params = [
            ("active", "true"),
            ("silenced", str(silenced).lower()),
            ("inhibited", str(inhibited).lower()),
            ("unprocessed", str(unprocessed).lower()),
        ]
        params += [("filter", m) for m in matchers]
        found: tuple[AlertmanagerAlert, ...] = self._parsed(
            "/api/v2/alerts", parse_alerts, self._get("/api/v2/alerts", params)
        )
        return found

    def status(self) -> AlertmanagerStatus:
        """Version, cluster state and start time: proof that it answers."""
        status: AlertmanagerStatus = self._parsed("/api/v2/status", parse_status, self._get("/api/v2/status"))
        return status
