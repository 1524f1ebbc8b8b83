"""A typed client for the toxiproxy HTTP API: one driver any target reaches its proxies with.

Why not the ``toxiproxy-python`` package: it keeps the server's host and port in
class-level globals (one server per process), sets no timeouts, cannot update a
proxy's upstream, and depends on Python-2 ``future`` shims. The API is small and
stable, so a 100-line client with timeouts and an error tree is the sounder choice.
"""

from dataclasses import dataclass
from typing import Any

import requests

from chaosdrill.errors import NotRunning, PermanentError, TemporaryError

__all__ = ["Link", "Proxy", "ToxiproxyClient", "ToxiproxyError"]

TIMEOUT_S = 5.0
# Removing a toxic can take 5 s per chunk the toxic still holds for a connection that closed
# under it (toxiproxy's RemoveToxic retries each such write for 5 s; Shopify/toxiproxy#558):
# a latency toxic on a link whose upstream was just re-pointed, say. Wait for it rather than
# give up at 5 s with the toxic removed a moment later and the fault still open in the ledger.
REMOVE_TOXIC_TIMEOUT_S = 65.0
START_HINT = "is it running? (the sandbox starts its own with `chaosdrill sandbox up`)"


class ToxiproxyError(PermanentError):
    """The toxiproxy API refused a request."""


@dataclass(frozen=True)
class Link:
    """One proxy on a path experiments name by (dc, az, link), on the toxiproxy at ``api``.

    ``health_url`` is a URL answered through the proxy, for feeling a latency fault; None where
    nothing can be timed (a Redis link, an empty replica slot, a system file naming no path).
    """

    dc: str
    az: str
    link: str
    proxy: str
    listen: str
    has_replica: bool
    api: str = ""
    health_url: str | None = None


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[dict[str, Any], ...]


class ToxiproxyClient:
    def __init__(self, api: str, session: requests.Session | None = None) -> None:
        self.api = api.rstrip("/")
        self._http = session or requests.Session()
        # The API refuses browser User-Agents (anti-CSRF); say who we are.
        self._http.headers["User-Agent"] = "chaosdrill"

    def _do(
        self, method: str, path: str, body: Any = None, ok_missing: bool = False, timeout_s: float = TIMEOUT_S
    ) -> Any:
        try:
            resp = self._http.request(method, f"{self.api}{path}", json=body, timeout=timeout_s)
        except requests.ConnectionError as e:
            raise NotRunning(f"toxiproxy is not reachable at {self.api}: {START_HINT}") from e
        except requests.Timeout as e:
            raise TemporaryError(f"toxiproxy at {self.api} timed out on {method} {path}") from e
        if resp.status_code == 404 and ok_missing:
            return None
        if resp.status_code >= 400:
            raise ToxiproxyError(f"toxiproxy {method} {path}: HTTP {resp.status_code}: {resp.text.strip()}")
        return resp.json() if resp.content else None

    def version(self) -> str:
        resp = self._do("GET", "/version")
        return str(resp.get("version") if isinstance(resp, dict) else resp)

    def proxies(self) -> dict[str, Proxy]:
        raw: dict[str, dict[str, Any]] = self._do("GET", "/proxies")
        return {name: _proxy(p) for name, p in raw.items()}

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        return _proxy(self._do("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream}))

    def update_proxy(self, name: str, **fields: Any) -> Proxy:
        return _proxy(self._do("POST", f"/proxies/{name}", fields))

    def delete_proxy(self, name: str) -> None:
        self._do("DELETE", f"/proxies/{name}", ok_missing=True)

    def add_toxic(
        self, proxy: str, name: str, kind: str, attributes: dict[str, Any], stream: str = "downstream"
    ) -> None:
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self._do("POST", f"/proxies/{proxy}/toxics", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Idempotent: a toxic (or proxy) that is already gone is not an error."""
        self._do(
            "DELETE", f"/proxies/{proxy}/toxics/{name}", ok_missing=True, timeout_s=REMOVE_TOXIC_TIMEOUT_S
        )

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        found = self._do("GET", f"/proxies/{proxy}/toxics", ok_missing=True)
        return list(found or [])


def _proxy(p: dict[str, Any]) -> Proxy:
    return Proxy(p["name"], p["listen"], p["upstream"], bool(p["enabled"]), tuple(p.get("toxics") or ()))
