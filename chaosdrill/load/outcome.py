"""How one HTTP exchange is judged: the outcome vocabulary shared by client, recorder and readers.

The classification is the contract with the service under load (docs/load.md): a marked
2xx is *degraded*, not ok, because a fallback answer hides an outage from a naive
success-rate probe; a 429 is *rejected*, not an error, because shedding load with
Retry-After is the defence working. Which header or JSON field marks a fallback, and
which statuses count as shedding, are a service's own :class:`OutcomeRules`. Keeping it in one small module means the client
(which classifies) and the readers (which aggregate) cannot drift apart.
"""

import json
from enum import StrEnum

from chaosdrill.load.template import SANDBOX_RULES, OutcomeRules

__all__ = [
    "DEGRADED_HEADER",
    "SANDBOX_CLASSIFIER",
    "Classifier",
    "ErrorReason",
    "Outcome",
    "Verdict",
    "classify_response",
    "reason_for_status",
]

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


def _json_field_truthy(body: bytes, field: str) -> bool:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and bool(doc.get(field))


def _needle(header: str | None) -> bytes | None:
    """What the client's parser looks for in a raw head: ``b"\\r\\nname:"`` in lowercase."""
    return None if header is None else b"\r\n" + header.lower().encode("ascii") + b":"


class Classifier:
    """:class:`OutcomeRules` made ready for the client: header names as the lowercase byte
    needles its parser looks for, and the rejected statuses as a set.

    An ok answer's body is not parsed: that would cost more than the rest of the request
    path together. With a JSON-field rule the body is searched for the quoted field name
    first, and parsed only when it is there (a degraded answer, or a near miss).
    """

    __slots__ = (
        "cell_needle",
        "checks_contract",
        "degraded_needle",
        "json_field",
        "json_needle",
        "rejected",
        "seq_ack_needle",
        "served_by_needle",
    )

    def __init__(
        self,
        rules: OutcomeRules,
        *,
        served_by: str | None = None,
        cell: str | None = None,
        seq_ack: str | None = None,
    ) -> None:
        self.rejected = frozenset(rules.rejected_statuses)
        header = rules.degraded_header
        self.degraded_needle = None if header is None else b"\r\n" + header.lower().encode("ascii") + b":"
        # chaosdrill's own header also promises a body naming the same kind of fallback.
        self.checks_contract = header is not None and header.lower().encode("ascii") == DEGRADED_HEADER
        self.json_field = rules.degraded_json_field
        self.json_needle = (
            None if self.json_field is None else json.dumps(self.json_field, ensure_ascii=False).encode()
        )
        self.served_by_needle = _needle(served_by or rules.served_by_header)
        # The home cell and the session ack (``Tracking``): looked for only when named.
        self.cell_needle = _needle(cell)
        self.seq_ack_needle = _needle(seq_ack)

    def classify(self, status: int, degraded: bytes | None, has_retry_after: bool, body: bytes) -> Verdict:
        """Judge a complete response; ``degraded`` is the raw value of the degraded header, if any."""
        if 200 <= status < 300:
            needle = self.json_needle
            if needle is not None:
                if needle in body and _json_field_truthy(body, self.json_field or ""):
                    return _DEGRADED
                return _OK
            if degraded is None:
                return _OK
            if not self.checks_contract:
                return _DEGRADED
            kind = degraded.decode("latin-1").strip()
            return _DEGRADED if _degraded_well_formed(kind, body) else _DEGRADED_MALFORMED
        if status in self.rejected:
            if status == 429:
                return _REJECTED if has_retry_after else _REJECTED_BARE
            return _REJECTED
        return _BY_STATUS.get(status, _ERROR_OTHER)


SANDBOX_CLASSIFIER = Classifier(SANDBOX_RULES)


def classify_response(status: int, degraded: bytes | None, has_retry_after: bool, body: bytes) -> Verdict:
    """Judge a complete response by the sandbox's contract (``degraded`` is the raw
    X-Chaosdrill-Degraded value, if any)."""
    return SANDBOX_CLASSIFIER.classify(status, degraded, has_retry_after, body)
