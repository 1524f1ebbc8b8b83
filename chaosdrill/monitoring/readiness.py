"""Waiting, boundedly, for Prometheus and Alertmanager to serve, and for every target to be up.

``sandbox up`` promises monitoring that already watches everything: a drill that starts
right after it must not find its first seconds missing from Prometheus. These are readiness
checks for the supervisor, not a client for probes.
"""

import asyncio
import time
from collections.abc import Iterable

import aiohttp

__all__ = ["ProcessExited", "wait_ready", "wait_targets_up"]

POLL_S = 0.1


class ProcessExited(RuntimeError):
    """The process died before it served (its port was taken, its config refused)."""


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout_s: float) -> None:
    """Until ``url`` answers 200; ProcessExited as soon as ``proc`` is gone."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise ProcessExited(f"exited with status {proc.returncode} before {url} answered")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:g}s")


async def _target_health(prometheus: str, session: aiohttp.ClientSession) -> dict[str, tuple[str, str]]:
    async with session.get(
        f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=aiohttp.ClientTimeout(total=2)
    ) as resp:
        body = await resp.json()
    return {
        str(t["labels"].get("instance", "")): (str(t.get("health", "")), str(t.get("lastError", "")))
        for t in body["data"]["activeTargets"]
    }


async def wait_targets_up(prometheus: str, addresses: Iterable[str], timeout_s: float) -> None:
    """Until Prometheus scrapes every one of ``addresses`` (host:port) successfully."""
    expected = set(addresses)
    deadline = time.monotonic() + timeout_s
    missing: dict[str, str] = dict.fromkeys(expected, "not discovered yet")
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                health = await _target_health(prometheus, session)
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                health = {}
            missing = {}
            for address in expected:
                state, error = health.get(address, ("", "not discovered yet"))
                if state != "up":
                    missing[address] = error or state or "unknown"
            if not missing:
                return
            await asyncio.sleep(POLL_S * 2)
    detail = "; ".join(f"{a}: {e}" for a, e in sorted(missing.items()))
    raise RuntimeError(f"Prometheus targets not up within {timeout_s:g}s: {detail}")
