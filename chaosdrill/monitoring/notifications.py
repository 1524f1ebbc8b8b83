"""Read back the notifications the webhook receiver recorded, as typed values.

Probes measure time to notify as ``received_at`` of the first notification naming an alert,
minus the fault's start; ``starts_at`` (when Prometheus saw the alert fire) splits that into
time to detect and the Alertmanager's share.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput

__all__ = ["Notification", "NotifiedAlert", "parse_notification", "read_notifications"]

_FRACTION = re.compile(r"\.(\d+)")
GO_ZERO_TIME_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z for "no end yet"


def _timestamp(value: Any) -> float | None:
    """RFC 3339 as Alertmanager writes it (nanoseconds, ``Z``) to epoch seconds; None for unset."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6], value, count=1).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if parsed.year == GO_ZERO_TIME_YEAR else parsed.timestamp()


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


@dataclass(frozen=True)
class NotifiedAlert:
    name: str
    status: str  # "firing" or "resolved"
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float | None
    ends_at: float | None
    fingerprint: str


@dataclass(frozen=True)
class Notification:
    received_at: float
    path: str  # the receiver's URL path: /p0 or /p1 with the shipped routing
    receiver: str  # Alertmanager's receiver name
    status: str  # "firing" while any alert in the group fires
    group_labels: dict[str, str]
    alerts: tuple[NotifiedAlert, ...]

    def names(self, status: str | None = None) -> set[str]:
        """The alert names in this notification, optionally only those with ``status``."""
        return {a.name for a in self.alerts if status is None or a.status == status}


def parse_notification(record: dict[str, Any]) -> Notification:
    """One recorded line (``received_at``, ``path``, ``payload``) as a Notification."""
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("payload is not a JSON object")
    alerts = tuple(
        NotifiedAlert(
            name=str(_str_map(a.get("labels")).get("alertname", "")),
            status=str(a.get("status", "")),
            labels=_str_map(a.get("labels")),
            annotations=_str_map(a.get("annotations")),
            starts_at=_timestamp(a.get("startsAt")),
            ends_at=_timestamp(a.get("endsAt")),
            fingerprint=str(a.get("fingerprint", "")),
        )
        for a in payload.get("alerts") or []
        if isinstance(a, dict)
    )
    return Notification(
        received_at=float(record["received_at"]),
        path=str(record.get("path", "")),
        receiver=str(payload.get("receiver", "")),
        status=str(payload.get("status", "")),
        group_labels=_str_map(payload.get("groupLabels")),
        alerts=alerts,
    )


def read_notifications(path: Path, since: float | None = None) -> list[Notification]:
    """Every notification in ``path`` (received at or after ``since``), oldest first.

    A missing file means none arrived yet. A last line without its newline is a write in
    progress and is skipped; any other unreadable line is a BadInput naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    complete, _partial = lines[:-1], lines[-1]
    found = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            note = parse_notification(json.loads(line))
        except (ValueError, KeyError, TypeError) as e:
            raise BadInput(str(path), f"line {number}", f"not a recorded notification: {e}") from e
        if since is None or note.received_at >= since:
            found.append(note)
    return found
