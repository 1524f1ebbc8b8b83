"""The load profile: what traffic to offer, validated before a single request is sent.

A profile is data (YAML or JSON, or a dict from an experiment's configuration), so it is
checked field by field here and every problem is a :class:`BadInput` that names the source
and the field (``streams[1].rate``). Every numeric field has an upper bound: a typo such as
``duration_s: 36000000`` must fail validation, not run for a year.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from chaosdrill.errors import BadInput

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_WINDOW_S",
    "SANDBOX_TRACKING",
    "Priority",
    "Profile",
    "Stream",
    "Tracking",
    "UserSelection",
    "load_profile",
    "parse_profile",
    "parse_stream_spec",
    "parse_tracking",
    "read_data_file",
]

DEFAULT_PATH = "/v1/generate"

MAX_DURATION_S = 7 * 24 * 3600.0
MAX_RATE = 1_000_000.0
MAX_USERS = 10_000_000
MAX_TOKENS = 1_000_000
MAX_IN_FLIGHT = 10_000
MAX_TIMEOUT_S = 60.0  # the latency histograms stop at 60 s
MAX_REQUESTS = 10**10
# A session stream keeps per-user sequence numbers and a short history of acknowledged writes
# in memory (see chaosdrill.load.session), so its users are bounded more tightly.
MAX_SESSION_USERS = 10_000
# The measurement window. A quarter of a second lets the guardrail judge (and stop) at that
# resolution; readers merge windows exactly, so totals and percentiles over a span are unchanged.
DEFAULT_WINDOW_S = 0.25


class Priority(StrEnum):
    INTERACTIVE = "interactive"
    BATCH = "batch"


class UserSelection(StrEnum):
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"


@dataclass(frozen=True)
class Stream:
    """One constant-rate arrival process of one tenant at one priority."""

    name: str
    rate: float
    tenant: str = "default"
    priority: Priority = Priority.INTERACTIVE
    users: int = 1
    max_tokens: int = 64
    prompt: str = "chaosdrill load"
    user_selection: UserSelection = UserSelection.ROUND_ROBIN
    seed: int = 0
    session: bool = False  # writes per-user sequence numbers and reads them back (needs tracking)

    def user_id(self, i: int) -> str:
        return f"u{i}"


@dataclass(frozen=True)
class Tracking:
    """The response headers that say where a request went, and the session contract.

    ``served_by`` names the serving DC and ``cell`` the user's home cell; with them each
    window counts outcomes per serving DC and per home cell. ``seq`` (sent) and ``seq_ack``
    (answered) carry a session stream's per-user sequence numbers, and ``read_path`` (with
    ``{user}``) reads a user's latest stored one back. The names come from the system file's
    ``headers`` and ``session`` sections.
    """

    served_by: str | None = None
    cell: str | None = None
    seq: str | None = None
    seq_ack: str | None = None
    read_path: str | None = None

    @property
    def sessions(self) -> bool:
        """True when session streams can run: all three of seq, seq_ack and read_path are set."""
        return self.seq is not None and self.seq_ack is not None and self.read_path is not None


# The sandbox's own contract (and the defaults for an experiment on it whose system file has none).
SANDBOX_TRACKING = Tracking(
    served_by="X-Chaosdrill-DC",
    cell="X-Chaosdrill-Cell",
    seq="X-Chaosdrill-Seq",
    seq_ack="X-Chaosdrill-Seq-Ack",
    read_path="/v1/session/{user}",
)


@dataclass(frozen=True)
class Profile:
    """A whole run: where to send, how long, how hard, and how to cut time into windows."""

    url: str
    duration_s: float
    streams: tuple[Stream, ...]
    max_requests: int | None = None
    timeout_s: float = 10.0
    window_s: float = DEFAULT_WINDOW_S
    max_in_flight: int = 256
    tracking: Tracking | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :func:`parse_profile` reads back into an equal profile."""
        data = asdict(self)
        data["streams"] = [
            {**asdict(s), "priority": s.priority.value, "user_selection": s.user_selection.value}
            for s in self.streams
        ]
        for s in data["streams"]:
            if not s["session"]:
                del s["session"]
        if self.tracking is None:
            del data["tracking"]
        else:
            data["tracking"] = {k: v for k, v in asdict(self.tracking).items() if v is not None}
        return data

    @property
    def total_rate(self) -> float:
        return sum(s.rate for s in self.streams)


class _Fields:
    """Reads typed fields out of one mapping, raising BadInput that names the field."""

    def __init__(self, source: str, prefix: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise BadInput(source, prefix or "<profile>", f"must be a mapping, got {type(data).__name__}")
        self.source = source
        self.prefix = prefix
        self.data = data

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def bad(self, key: str, problem: str) -> BadInput:
        return BadInput(self.source, self.name(key), problem)

    def number(
        self, key: str, default: float | None, *, low: float, high: float, low_inclusive: bool = False
    ) -> float:
        raw = self.data.get(key, default)
        if raw is None:
            raise self.bad(key, "is required")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self.bad(key, f"must be a number, got {raw!r}")
        value = float(raw)
        too_low = value < low if low_inclusive else value <= low
        if not math.isfinite(value) or too_low or value > high:
            side = ">=" if low_inclusive else ">"
            raise self.bad(key, f"must be {side} {low:g} and <= {high:g}, got {raw!r}")
        return value

    def integer(self, key: str, default: int | None, *, low: int, high: int) -> int:
        raw = self.data.get(key, default)
        if raw is None:
            raise self.bad(key, "is required")
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise self.bad(key, f"must be an integer, got {raw!r}")
        if not low <= raw <= high:
            raise self.bad(key, f"must be between {low} and {high}, got {raw}")
        return raw

    def text(self, key: str, default: str | None) -> str:
        raw = self.data.get(key, default)
        if raw is None:
            raise self.bad(key, "is required")
        if not isinstance(raw, str) or not raw.strip():
            raise self.bad(key, f"must be a non-empty string, got {raw!r}")
        return raw

    def header_value(self, key: str, default: str | None) -> str:
        value = self.text(key, default)
        if any(c in value for c in "\r\n\0") or not value.isprintable() or not value.isascii():
            raise self.bad(key, f"must be printable ASCII (it is sent as an HTTP header), got {value!r}")
        return value

    def choice(self, key: str, enum: type[Enum], default: Enum) -> Any:
        raw = self.data.get(key, default.value)
        try:
            return enum(raw)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum)
            raise self.bad(key, f"must be one of {allowed}, got {raw!r}") from None

    def unknown(self, known: set[str]) -> None:
        extra = sorted(str(k) for k in self.data if k not in known)
        if extra:
            raise self.bad(extra[0], f"unknown field (known: {', '.join(sorted(known))})")


_STREAM_FIELDS = set(Stream.__dataclass_fields__)
_PROFILE_FIELDS = set(Profile.__dataclass_fields__)
_TRACKING_FIELDS = set(Tracking.__dataclass_fields__)


def _flag(f: _Fields, key: str) -> bool:
    raw = f.data.get(key, False)
    if not isinstance(raw, bool):
        raise f.bad(key, f"must be true or false, got {raw!r}")
    return raw


def parse_tracking(data: Any, source: str = "<profile>", prefix: str = "tracking") -> Tracking:
    """Validate a ``tracking`` mapping (header names and the session read path)."""
    f = _Fields(source, prefix, data)
    f.unknown(_TRACKING_FIELDS)
    values: dict[str, str | None] = {}
    for key in ("served_by", "cell", "seq", "seq_ack"):
        if data.get(key) is None:
            values[key] = None
            continue
        name = f.header_value(key, None)
        if not all(c.isalnum() or c in "-_" for c in name):
            raise f.bad(key, f"must be an HTTP header name (letters, digits, - and _), got {name!r}")
        values[key] = name
    read_path = None
    if data.get("read_path") is not None:
        read_path = f.header_value("read_path", None)
        if not read_path.startswith("/") or " " in read_path or "{user}" not in read_path:
            raise f.bad("read_path", f"must be a path starting with / that holds {{user}}, got {read_path!r}")
    return Tracking(read_path=read_path, **values)


def _check_url(f: _Fields) -> str:
    url = f.text("url", None)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise f.bad("url", f"must be an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise f.bad("url", f"has no host: {url!r}")
    try:
        _ = parts.port
    except ValueError as e:
        raise f.bad("url", f"bad port in {url!r}: {e}") from None
    if not parts.path:
        url = url.rstrip("/") + DEFAULT_PATH
    return url


def _parse_stream(source: str, index: int, data: Any) -> Stream:
    f = _Fields(source, f"streams[{index}]", data)
    f.unknown(_STREAM_FIELDS)
    name = f.text("name", None)
    if any(c in name for c in "*?[]") or any(c.isspace() for c in name):
        raise f.bad("name", f"must not contain whitespace or glob characters, got {name!r}")
    return Stream(
        name=name,
        rate=f.number("rate", None, low=0.0, high=MAX_RATE),
        tenant=f.header_value("tenant", "default"),
        priority=f.choice("priority", Priority, Priority.INTERACTIVE),
        users=f.integer("users", 1, low=1, high=MAX_USERS),
        max_tokens=f.integer("max_tokens", 64, low=1, high=MAX_TOKENS),
        prompt=f.text("prompt", "chaosdrill load"),
        user_selection=f.choice("user_selection", UserSelection, UserSelection.ROUND_ROBIN),
        seed=f.integer("seed", 0, low=0, high=2**63 - 1),
        session=_flag(f, "session"),
    )


def parse_profile(data: Any, source: str = "<profile>") -> Profile:
    """Validate a dict (from YAML, JSON or an experiment) into a :class:`Profile`."""
    f = _Fields(source, "", data)
    f.unknown(_PROFILE_FIELDS)
    raw_streams = data.get("streams")
    if not isinstance(raw_streams, list) or not raw_streams:
        raise f.bad("streams", "must be a non-empty list of streams")
    streams = tuple(_parse_stream(source, i, s) for i, s in enumerate(raw_streams))
    names = [s.name for s in streams]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise f.bad("streams", f"stream names must be unique; repeated: {', '.join(dupes)}")
    tracking = None if data.get("tracking") is None else parse_tracking(data["tracking"], source)
    for i, stream in enumerate(streams):
        if not stream.session:
            continue
        where = f"streams[{i}].session"
        if tracking is None or not tracking.sessions:
            raise BadInput(
                source,
                where,
                "a session stream needs tracking.seq, tracking.seq_ack and tracking.read_path "
                "(the system file's headers and session sections)",
            )
        if stream.users > MAX_SESSION_USERS:
            raise BadInput(
                source, f"streams[{i}].users", f"a session stream has at most {MAX_SESSION_USERS} users"
            )
    max_requests = data.get("max_requests")
    return Profile(
        url=_check_url(f),
        duration_s=f.number("duration_s", None, low=0.0, high=MAX_DURATION_S),
        streams=streams,
        max_requests=None
        if max_requests is None
        else f.integer("max_requests", None, low=1, high=MAX_REQUESTS),
        timeout_s=f.number("timeout_s", 10.0, low=0.0, high=MAX_TIMEOUT_S),
        window_s=f.number("window_s", DEFAULT_WINDOW_S, low=0.01, high=3600.0, low_inclusive=True),
        max_in_flight=f.integer("max_in_flight", 256, low=1, high=MAX_IN_FLIGHT),
        tracking=tracking,
    )


def load_profile(path: Path) -> Profile:
    """Read a YAML or JSON profile file."""
    return parse_profile(read_data_file(path), str(path))


def read_data_file(path: Path) -> Any:
    """A YAML or JSON file's data (JSON by its suffix); BadInput names the file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BadInput(source, "<file>", f"cannot read: {e.strerror or e}") from e
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise BadInput(
            source, "<file>", f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}"
        ) from e
    return data


def parse_stream_spec(spec: str, source: str = "<argument>", field: str = "--streams") -> dict[str, Any]:
    """``name:tenant:priority:rate[:users[:max_tokens]]`` from the command line, as a stream dict.

    The dict still goes through :func:`parse_profile`, so the range checks live in one place.
    """
    parts = spec.split(":")
    if not 4 <= len(parts) <= 6:
        raise BadInput(source, field, f"{spec!r} is not name:tenant:priority:rate[:users[:max_tokens]]")
    out: dict[str, Any] = {"name": parts[0], "tenant": parts[1], "priority": parts[2]}
    keys = ("rate", "users", "max_tokens")
    for key, raw in zip(keys, parts[3:], strict=False):
        try:
            out[key] = float(raw) if key == "rate" else int(raw)
        except ValueError:
            raise BadInput(source, field, f"{key} in {spec!r} must be a number, got {raw!r}") from None
    return out
