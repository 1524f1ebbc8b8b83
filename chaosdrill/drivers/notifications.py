"""Reading the notifications a webhook receiver recorded: what reached people, and when.

The receiver appends one JSON line per Alertmanager webhook call,
``{"received_at": <unix seconds>, "payload": <the webhook body>}``. Its file is read while it
grows, so a torn last line (a write in progress) is skipped, while a malformed line before it is
the receiver's bug and is reported with its line number.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosdrill.drivers.timestamps import parse_rfc3339
from chaosdrill.errors import BadInput
from chaosdrill.system import system_of

__all__ = [
    "NOTIFICATIONS_FIELD",
    "Notification",
    "NotifiedAlert",
    "notifications_file",
    "parse_notification",
    "read_notifications",
]

NOTIFICATIONS_FIELD = "chaosdrill_notifications"


@dataclass(frozen=True)
class NotifiedAlert:
    """One alert inside a notification; ``status`` is firing or resolved."""

    name: str
    status: str
    labels: dict[str, str]
    starts_at: float | None
    ends_at: float | None
    fingerprint: str
    annotations: dict[str, str] = field(default_factory=dict)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        return self.name == name and all(self.labels.get(k) == v for k, v in labels.items())


@dataclass(frozen=True)
class Notification:
    """One webhook call: when it arrived, for which receiver, and the alerts it carried."""

    received_at: float
    receiver: str
    status: str
    group_labels: dict[str, str]
    alerts: tuple[NotifiedAlert, ...]
    path: str = ""  # the receiver's URL path (the sandbox's routing: /p0 or /p1)

    def names(self, status: str | None = None) -> set[str]:
        """The alert names in this notification, optionally only those with ``status``."""
        return {a.name for a in self.alerts if status is None or a.status == status}


def notifications_file(path: str | None, configuration: Mapping[str, Any] | None) -> Path:
    """The file a probe reads: its ``path`` argument, else ``configuration.chaosdrill_notifications``,
    else the experiment's system file's ``notifications``."""
    raw = path if path is not None else (configuration or {}).get(NOTIFICATIONS_FIELD)
    if raw is None:
        system = system_of(configuration)
        raw = system.notifications if system is not None else None
    if raw is None:
        raise BadInput(
            "<argument>",
            "path",
            f"say where notifications are recorded: the probe's path argument or configuration.{NOTIFICATIONS_FIELD}",
        )
    if not isinstance(raw, str) or not raw.strip():
        field = "path" if path is not None else f"configuration.{NOTIFICATIONS_FIELD}"
        raise BadInput("<argument>" if path is not None else "<experiment>", field, "must be a file path")
    return Path(raw).expanduser()


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ValueError("labels must be a mapping")
    return {str(k): str(v) for k, v in raw.items()}


def _notified_alert(raw: Any) -> NotifiedAlert:
    if not isinstance(raw, Mapping):
        raise ValueError("each alert must be a mapping")
    labels = _labels(raw.get("labels") or {})
    return NotifiedAlert(
        name=labels.get("alertname", ""),
        status=str(raw.get("status", "")),
        labels=labels,
        starts_at=parse_rfc3339(raw.get("startsAt")),
        ends_at=parse_rfc3339(raw.get("endsAt")),
        fingerprint=str(raw.get("fingerprint", "")),
        annotations=_labels(raw.get("annotations") or {}),
    )


def parse_notification(record: Any) -> Notification:
    """One recorded line; ValueError if it is not ``{received_at, payload}`` with a webhook body."""
    if not isinstance(record, Mapping):
        raise ValueError("a record must be a mapping")
    received_at = record.get("received_at")
    if isinstance(received_at, bool) or not isinstance(received_at, int | float):
        raise ValueError("received_at must be Unix seconds")
    payload = record.get("payload")
    if not isinstance(payload, Mapping):
        raise ValueError("payload must be the webhook's JSON body")
    alerts = payload.get("alerts") or []
    if not isinstance(alerts, list):
        raise ValueError("payload.alerts must be a list")
    return Notification(
        received_at=float(received_at),
        receiver=str(payload.get("receiver", "")),
        status=str(payload.get("status", "")),
        group_labels=_labels(payload.get("groupLabels") or {}),
        alerts=tuple(_notified_alert(a) for a in alerts),
        path=str(record.get("path", "")),
    )


def read_notifications(path: Path, since: float | None = None) -> list[Notification]:
    """Every notification recorded in ``path`` (none if it does not exist yet), received at or
    after ``since``, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return []
    found: list[Notification] = []
    last = len(lines) - 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            notification = parse_notification(json.loads(line))
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            if number - 1 == last:
                continue  # the receiver is still writing this line
            raise BadInput(str(path), f"line {number}", f"not a recorded notification: {e}") from e
        if since is None or notification.received_at >= since:
            found.append(notification)
    return found
