"""How one HTTP exchange is judged: the outcome vocabulary shared by client, recorder and readers.

The classification is the contract with the service under load (docs/load.md): a marked
200 is *degraded*, not ok, because a fallback answer hides an outage from a naive
success-rate probe; a 429 is *rejected*, not an error, because shedding load with
Retry-After is the defence working. Keeping it in one small module means the client
(which classifies) and the readers (which aggregate) cannot drift apart.
"""

import json
from enum import StrEnum

__all__ = ["DEGRADED_HEADER", "ErrorReason", "Outcome", "Verdict", "classify_response", "reason_for_status"]

DEGRADED_HEADER = b"x-chaosdrill-degraded"


class Outcome(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    REJECTED = "rejected"
    ERROR = "error"


class ErrorReason(StrEnum):
    S500 = "500"
    S502 = "502"
    S503 = "503"
    RESET = "reset"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    OTHER = "other"


_STATUS_REASONS = {500: ErrorReason.S500, 502: ErrorReason.S502, 503: ErrorReason.S503}


def reason_for_status(status: int) -> ErrorReason:
    return _STATUS_REASONS.get(status, ErrorReason.OTHER)


class Verdict:
    """The judged result of one response; plain slots because the client makes one per request."""

    __slots__ = ("malformed", "no_retry_after", "outcome", "reason")

    def __init__(
        self,
        outcome: Outcome,
        reason: ErrorReason | None = None,
        *,
        malformed: bool = False,
        no_retry_after: bool = False,
    ) -> None:
        self.outcome = outcome
        self.reason = reason
        self.malformed = malformed
        self.no_retry_after = no_retry_after


_OK = Verdict(Outcome.OK)
_REJECTED = Verdict(Outcome.REJECTED)
_REJECTED_BARE = Verdict(Outcome.REJECTED, no_retry_after=True)
_DEGRADED = Verdict(Outcome.DEGRADED)
_DEGRADED_MALFORMED = Verdict(Outcome.DEGRADED, malformed=True)
_BY_STATUS = {status: Verdict(Outcome.ERROR, reason) for status, reason in _STATUS_REASONS.items()}
_ERROR_OTHER = Verdict(Outcome.ERROR, ErrorReason.OTHER)


def _degraded_well_formed(kind: str, body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(doc, dict) or doc.get("degraded") != kind:
        return False
    field = {"cache": "text", "busy": "message"}.get(kind)
    value = doc.get(field) if field else None
    return isinstance(value, str) and bool(value)


def classify_response(status: int, degraded: bytes | None, has_retry_after: bool, body: bytes) -> Verdict:
    """Judge a complete response. ``degraded`` is the raw X-Chaosdrill-Degraded value, if any.

    An ok answer's body is not parsed: that would cost more than the rest of the request
    path together, and the contract only asks for the degraded answers to be checked.
    """
    if status == 200:
        if degraded is None:
            return _OK
        kind = degraded.decode("latin-1").strip()
        return _DEGRADED if _degraded_well_formed(kind, body) else _DEGRADED_MALFORMED
    if status == 429:
        return _REJECTED if has_retry_after else _REJECTED_BARE
    return _BY_STATUS.get(status, _ERROR_OTHER)
