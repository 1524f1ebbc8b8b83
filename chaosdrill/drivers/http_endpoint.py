"""Where an outside HTTP API (Prometheus, Alertmanager) lives, how to authenticate to it, and
one request path that turns every client failure into ``chaosdrill.errors``.

A team's monitoring sits behind a bearer token or basic auth, and its credentials must never
reach the journal, the logs or a report. So the configuration only *names* them (an environment
variable, or the experiment's ``secrets``); once resolved they live only in :class:`Endpoint`,
whose ``repr`` leaves them out, and every message built here goes through
:meth:`Endpoint.redact` before it can become an exception. A URL with credentials in it is
refused for the same reason.
"""

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from chaosdrill import redact
from chaosdrill.errors import ActivityFailed, BadInput, NotRunning, PermanentError, TemporaryError
from chaosdrill.system import system_of

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EXPERIMENT",
    "SECTION_PREFIX",
    "ApiClient",
    "Auth",
    "BasicAuth",
    "BearerToken",
    "Endpoint",
    "GivenSecrets",
    "Reply",
    "Unreachable",
    "auth_headers",
    "call",
    "endpoint_from",
    "open_session",
    "parse_endpoint",
    "resolve_auth",
    "section_secrets",
    "section_settings",
]

SECTION_PREFIX = "chaosdrill_"
EXPERIMENT = "<experiment>"
ENDPOINT_KEYS = frozenset({"url", "auth", "verify_tls"})
AUTH_KEYS = frozenset({"bearer_token_env", "username_env", "password_env"})
SECRET_KEYS = frozenset({"token", "username", "password"})
BODY_EXCERPT = 300


@dataclass(frozen=True)
class BearerToken:
    token: str = field(repr=False)


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)


Auth = BearerToken | BasicAuth


def auth_headers(auth: Auth | None) -> dict[str, str]:
    """The ``Authorization`` header for ``auth`` (none without auth)."""
    if isinstance(auth, BearerToken):
        return {"Authorization": f"Bearer {auth.token}"}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


@dataclass(frozen=True)
class Endpoint:
    """An HTTP API's base URL (no trailing slash), its credentials and whether TLS is verified."""

    url: str
    auth: Auth | None = None
    verify_tls: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def secret_values(self) -> frozenset[str]:
        """Every string that would give the credentials away: the token, the password, the header."""
        found: set[str] = set(auth_headers(self.auth).values())
        if isinstance(self.auth, BearerToken):
            found.add(self.auth.token)
        elif isinstance(self.auth, BasicAuth):
            found.add(self.auth.password)
        return frozenset(v for v in found if v)

    def redact(self, text: str) -> str:
        """``text`` without this endpoint's secrets, nor any secret the run armed."""
        return redact.Redactor(self.secret_values()).text(redact.active().text(text))


# --- reading an endpoint from an experiment -------------------------------------------------


def section_settings(
    configuration: Mapping[str, Any] | None, section: str
) -> tuple[str, str, Mapping[str, Any]]:
    """Where the settings of ``section`` ("prometheus", "alertmanager") come from, as
    ``(source, field, mapping)`` for :func:`parse_endpoint` and its error messages.

    The experiment's ``configuration.chaosdrill_<section>`` first; else the ``<section>`` block
    of the experiment's system file (``chaosdrill_system`` or ``$CHAOSDRILL_SYSTEM``), with the
    file as the source of any error.
    """
    key = SECTION_PREFIX + section
    where = f"configuration.{key}"
    raw = (configuration or {}).get(key)
    if raw is None:
        system = system_of(configuration)
        block = getattr(system, section, None) if system is not None else None
        if system is not None and isinstance(block, Mapping):
            return system.path, section, block
    if raw is None:
        raise BadInput(
            EXPERIMENT, where, f"missing: say where {section} is, e.g. {{url: http://127.0.0.1:PORT}}"
        )
    if not isinstance(raw, Mapping):
        raise BadInput(EXPERIMENT, where, f"must be a mapping with a url, got {type(raw).__name__}")
    return EXPERIMENT, where, raw


@dataclass(frozen=True)
class GivenSecrets:
    """The credentials an experiment's secrets give for one section (keys ``token``, ``username``,
    ``password``), and how each is named in the experiment, for messages that never show values."""

    values: Mapping[str, Any]
    names: Mapping[str, str]
    where: str

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise BadInput(
                EXPERIMENT, self.names[key], "must be a non-empty string"
            )  # the value is not shown
        return value


NO_SECRETS = GivenSecrets({}, {}, "secrets")


def section_secrets(secrets: Mapping[str, Any] | None, section: str) -> GivenSecrets:
    """The credentials for ``section`` in an activity's ``secrets``, in either of two shapes:

    - nested, ``{"prometheus": {"token": ...}}``: how a Python caller passes them;
    - flat, ``{"prometheus_token": ...}``: how Chaos Toolkit passes them, since it merges the
      scopes a provider declares (``secrets: [monitoring]``) into one mapping. The section's
      prefix keeps a Prometheus token from ever being sent to Alertmanager.
    """
    given = secrets or {}
    nested = given.get(section)
    if isinstance(nested, Mapping):
        unknown = sorted(str(k) for k in nested if k not in SECRET_KEYS)
        if unknown:
            raise BadInput(
                EXPERIMENT,
                f"secrets.{section}.{unknown[0]}",
                f"unknown key (allowed: {', '.join(sorted(SECRET_KEYS))})",
            )
        return GivenSecrets(nested, {k: f"secrets.{section}.{k}" for k in SECRET_KEYS}, f"secrets.{section}")
    if nested is not None:
        raise BadInput(
            EXPERIMENT, f"secrets.{section}", "must be a mapping of token, or username and password"
        )
    flat = {k: given[f"{section}_{k}"] for k in SECRET_KEYS if f"{section}_{k}" in given}
    return GivenSecrets(flat, {k: f"secrets.{section}_{k}" for k in SECRET_KEYS}, "secrets")


def endpoint_from(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None, section: str
) -> Endpoint:
    """The endpoint of ``section`` for this experiment: its settings (:func:`section_settings`),
    with credentials from the activity's secrets (:func:`section_secrets`) or from the
    environment variables the settings name."""
    source, where, raw = section_settings(configuration, section)
    return parse_endpoint(raw, source=source, where=where, secrets=section_secrets(secrets, section))


def parse_endpoint(
    raw: Mapping[str, Any],
    *,
    source: str,
    where: str,
    secrets: GivenSecrets = NO_SECRETS,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Check an ``{url, auth, verify_tls}`` mapping and resolve its credentials."""
    unknown = sorted(str(k) for k in raw if k not in ENDPOINT_KEYS)
    if unknown:
        raise BadInput(
            source, f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(ENDPOINT_KEYS))})"
        )
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise BadInput(source, f"{where}.url", "must be an http(s) URL")
    parts = urlsplit(url.strip())
    if parts.username is not None or parts.password is not None:
        # The URL itself is not repeated: it holds the credentials.
        raise BadInput(
            source,
            f"{where}.url",
            "must not hold credentials; name them in auth (bearer_token_env, or username_env and "
            "password_env) or in the experiment's secrets",
        )
    if parts.query or parts.fragment:
        # Not repeated either: a query string is where a token would hide.
        raise BadInput(source, f"{where}.url", "must be a base URL, without a query string or fragment")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(source, f"{where}.url", f"must be an http(s) URL with a host, got {url!r}")
    verify = raw.get("verify_tls", True)
    if not isinstance(verify, bool):
        raise BadInput(source, f"{where}.verify_tls", f"must be true or false, got {verify!r}")
    auth = resolve_auth(
        raw.get("auth"),
        source=source,
        where=f"{where}.auth",
        secrets=secrets,
        env=os.environ if env is None else env,
    )
    return Endpoint(url.strip(), auth, verify)


def _from_env(
    raw_auth: Mapping[str, Any], key: str, source: str, where: str, env: Mapping[str, str]
) -> str | None:
    name = raw_auth.get(key)
    if name is None:
        return None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise BadInput(source, f"{where}.{key}", f"must name an environment variable, got {name!r}")
    value = env.get(name)
    if not value:
        raise BadInput(source, f"{where}.{key}", f"environment variable {name} is not set")
    return value


def resolve_auth(
    raw_auth: Any,
    *,
    source: str,
    where: str,
    secrets: GivenSecrets,
    env: Mapping[str, str],
) -> Auth | None:
    """Credentials from the activity's secrets (``token``, or ``username`` and ``password``)
    first, then from the environment variables ``raw_auth`` names; None when neither gives any.

    A value given in the secrets wins over the same part named by ``*_env``.
    """
    if raw_auth is None:
        raw_auth = {}
    if not isinstance(raw_auth, Mapping):
        raise BadInput(
            source, where, "must be a mapping: {bearer_token_env: VAR} or {username_env: U, password_env: P}"
        )
    unknown = sorted(str(k) for k in raw_auth if k not in AUTH_KEYS)
    if unknown:
        raise BadInput(
            source, f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(AUTH_KEYS))})"
        )
    if "bearer_token_env" in raw_auth and ("username_env" in raw_auth or "password_env" in raw_auth):
        raise BadInput(
            source, where, "give either bearer_token_env, or username_env and password_env, not both"
        )
    if ("username_env" in raw_auth) != ("password_env" in raw_auth):
        raise BadInput(source, where, "username_env and password_env go together")

    def part(secret_key: str, env_key: str) -> str | None:
        given = secrets.get(secret_key)
        return given if given is not None else _from_env(raw_auth, env_key, source, where, env)

    token = part("token", "bearer_token_env")
    username = part("username", "username_env")
    password = part("password", "password_env")
    if token is not None and (username is not None or password is not None):
        raise BadInput(
            EXPERIMENT, secrets.where, "give either a token, or a username and a password, not both"
        )
    if token is not None:
        return BearerToken(token)
    if (username is None) != (password is None):
        raise BadInput(EXPERIMENT, secrets.where, "a username needs a password, and a password a username")
    if username is not None and password is not None:
        return BasicAuth(username, password)
    return None


# --- talking to it ---------------------------------------------------------------------------


class Unreachable(NotRunning, ActivityFailed):
    """Nothing answered at an outside system's URL.

    It is a :class:`NotRunning` for the engine, and an ``ActivityFailed`` naming the URL for a
    probe's verdict, as the drill's bad-input rules ask.
    """


@dataclass(frozen=True)
class Reply:
    """An answer with its status: the JSON body (None if it was not JSON) and the raw text."""

    status: int
    body: Any
    text: str

    def excerpt(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "..."


def open_session(endpoint: Endpoint) -> requests.Session:
    session = requests.Session()
    session.headers.update(auth_headers(endpoint.auth))
    session.headers["User-Agent"] = "chaosdrill"
    session.verify = endpoint.verify_tls
    return session


def _reason(e: BaseException) -> str:
    """The root cause of a requests failure in a few words (``[Errno 111] Connection refused``)."""
    found = re.search(r"\[Errno -?\d+\][^'\")\]]*", str(e))
    return found.group(0).strip() if found else type(e).__name__


def call(
    session: requests.Session,
    endpoint: Endpoint,
    what: str,
    method: str,
    path: str,
    *,
    timeout_s: float,
    params: Mapping[str, str] | list[tuple[str, str]] | None = None,
    data: Mapping[str, str] | None = None,
) -> Reply:
    """One request to ``endpoint`` (``what`` names the system in messages).

    Raises :class:`Unreachable` when nothing answers, ``TemporaryError`` on a timeout or a 5xx
    without a JSON body, ``PermanentError`` on TLS failures and refused credentials. Any other
    answer is returned, for the caller to read its API's own error format.
    """
    url = f"{endpoint.url}{path}"
    try:
        resp = session.request(method, url, params=params, data=data, timeout=timeout_s)
    except requests.exceptions.SSLError as e:
        raise PermanentError(
            endpoint.redact(
                f"{what} at {endpoint.url}: TLS verification failed ({_reason(e)}); "
                "fix the certificate or, for a test server only, set verify_tls: false"
            )
        ) from e
    except requests.ConnectionError as e:
        raise Unreachable(endpoint.redact(f"{what} is not reachable at {endpoint.url}: {_reason(e)}")) from e
    except requests.Timeout as e:
        raise TemporaryError(
            endpoint.redact(f"{what} at {endpoint.url} did not answer {method} {path} within {timeout_s:g}s")
        ) from e
    except requests.RequestException as e:
        raise PermanentError(
            endpoint.redact(f"{what} at {endpoint.url}: {method} {path} failed: {_reason(e)}")
        ) from e
    try:
        body = resp.json() if resp.content else None
    except ValueError:
        body = None
    reply = Reply(resp.status_code, body, resp.text)
    if reply.status in (401, 403):
        raise PermanentError(
            endpoint.redact(
                f"{what} at {endpoint.url} refused {method} {path} (HTTP {reply.status}): check the "
                "credentials named in its auth settings or the experiment's secrets"
            )
        )
    if reply.status >= 500 and body is None:
        raise TemporaryError(
            endpoint.redact(
                f"{what} at {endpoint.url}: {method} {path}: HTTP {reply.status}: {reply.excerpt()}"
            )
        )
    return reply


DEFAULT_TIMEOUT_S = 10.0


class ApiClient:
    """A session to one outside HTTP API (a Prometheus, an Alertmanager): a context manager
    that holds the endpoint and its timeout, and closes its connections at the end."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._http = open_session(endpoint)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def url(self) -> str:
        return self.endpoint.url
