"""RFC 3339 timestamps as Prometheus and Alertmanager write them, as Unix seconds.

Both write nanoseconds (``2024-05-01T10:00:00.123456789Z``), which ``datetime.fromisoformat``
does not take before Python 3.11's extended parser, and neither ever means local time; and
Go's zero time (``0001-01-01T00:00:00Z``) stands for "not set".
"""

import re
from datetime import datetime

__all__ = ["parse_rfc3339"]

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)$")


def parse_rfc3339(raw: str | None) -> float | None:
    """Unix seconds, or None for an empty value or Go's zero time; ValueError if malformed."""
    if not raw:
        return None
    m = _RFC3339.match(raw.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {raw!r}")
    whole, fraction, zone = m.groups()
    if whole.startswith("0001-01-01T00:00:00"):
        return None
    offset = "+00:00" if zone in ("Z", "z") else zone
    seconds = datetime.fromisoformat(whole + offset).timestamp()
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)
