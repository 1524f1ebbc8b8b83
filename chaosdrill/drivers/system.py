"""The system driver: a team's own service, reached through what its system file names.

Its links are the toxiproxy proxies the file's ``toxiproxy`` section maps to the names
experiments use (dc, az, link); each map may name proxies by glob, resolved against the
proxies the server has right now. Nothing here knows any one service: the sandbox, an nginx
in front of httpbin and a team's staging are all just system files.
"""

import fnmatch
import time
from collections.abc import Mapping
from typing import Any

import requests

from chaosdrill.drivers.toxiproxy import Link, Proxy, ToxiproxyClient
from chaosdrill.errors import ActivityFailed, BadInput, ChaosdrillError
from chaosdrill.system import System, system_of

__all__ = ["SystemDriver"]


class SystemDriver:
    """One system file's links, on the toxiproxy servers it names."""

    def __init__(self, system: System, session: requests.Session | None = None) -> None:
        self.system = system
        self.http = session or requests.Session()

    @classmethod
    def of(cls, configuration: Mapping[str, Any] | None) -> "SystemDriver":
        """The experiment's system (``chaosdrill_system`` or ``$CHAOSDRILL_SYSTEM``); BadInput if none."""
        system = system_of(configuration)
        if system is None:
            raise BadInput(
                "<experiment>",
                "configuration.chaosdrill_system",
                "chaosdrill_target system needs a system file (or $CHAOSDRILL_SYSTEM); see docs/system-file.md",
            )
        return cls(system)

    @property
    def dcs(self) -> list[str]:
        return sorted({lm.dc for server in self.system.toxiproxy for lm in server.links})

    def toxiproxy(self, api: str | None = None) -> ToxiproxyClient:
        if api is None:
            raise BadInput(self.system.path, "toxiproxy", "a system's toxiproxy calls name their server")
        return ToxiproxyClient(api, self.http)

    def _proxies(self, api: str) -> dict[str, Proxy]:
        try:
            return self.toxiproxy(api).proxies()
        except ChaosdrillError as e:  # unreachable, refused: the experiment's fault cannot land
            raise ActivityFailed(f"toxiproxy at {api} (system file {self.system.path}): {e}") from e

    def links(self) -> list[Link]:
        """Every link the system file maps, resolved against the proxies each server has."""
        out: list[Link] = []
        for server in self.system.toxiproxy:
            proxies = self._proxies(server.api)
            for lm in server.links:
                for name in sorted(p for p in proxies if any(fnmatch.fnmatchcase(p, g) for g in lm.proxies)):
                    listen = proxies[name].listen
                    health = f"http://{listen}{lm.health_path}" if lm.health_path else None
                    out.append(Link(lm.dc, lm.az, lm.link, name, listen, True, server.api, health))
        return out

    def select_links(self, dc: str, az: str, link: str) -> list[Link]:
        """Links whose dc, az and link names match the globs (an ``az`` of ``*`` in the file
        matches every az); ActivityFailed listing the known links and proxies if none does."""
        if not self.system.toxiproxy:
            raise BadInput(
                self.system.path, "toxiproxy", "the system file names no toxiproxy: it has no links"
            )
        every = self.links()
        chosen = [
            lk
            for lk in every
            if fnmatch.fnmatchcase(lk.dc, dc)
            and (lk.az == "*" or fnmatch.fnmatchcase(lk.az, az))
            and fnmatch.fnmatchcase(lk.link, link)
        ]
        if not chosen:
            named = sorted({f"{lm.dc}/{lm.az}/{lm.link}" for s in self.system.toxiproxy for lm in s.links})
            existing = sorted({p for s in self.system.toxiproxy for p in self._proxies(s.api)})
            raise ActivityFailed(
                f"no link of {self.system.path} matches dc={dc!r} az={az!r} link={link!r}; "
                f"it maps {', '.join(named)}; the proxies that exist: {', '.join(existing) or 'none'}"
            )
        return chosen

    def timed_get(self, url: str, timeout_s: float) -> float:
        """Seconds one GET of ``url`` took; RequestException if it failed."""
        t0 = time.perf_counter()
        self.http.get(url, timeout=timeout_s)
        return time.perf_counter() - t0
