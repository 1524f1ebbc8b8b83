"""The sandbox describes itself in the system file format: one system among others.

``chaosdrill sandbox up`` writes ``<home>/sandbox/system.yaml`` from the state the supervisor
published: the edge as the endpoint with the sandbox's request contract as a template, each
AZ pool's replica slots, each DC's Redis, session-state members and replication link as
toxiproxy links, the session headers and read path, the sandbox's Prometheus and
Alertmanager, and a PromQL query per defence over the metrics its components export. An
experiment that says ``chaosdrill_target: system`` with this file drills the sandbox through
exactly the code that drills any other service; the sandbox experiments' mechanism probes
read its ``mechanisms`` (see :mod:`chaosdrill.mechanisms`).
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from chaosdrill import paths
from chaosdrill.sandbox.state import SandboxState

__all__ = ["HEADERS", "MECHANISMS", "describe", "remove", "system_file", "write"]

HEADERS = {
    "served_by": "X-Chaosdrill-DC",
    "cell": "X-Chaosdrill-Cell",
    "seq": "X-Chaosdrill-Seq",
    "seq_ack": "X-Chaosdrill-Seq-Ack",
}

# Over the sandbox's own metrics. Breaker state is a gauge (1 = open); the counters are
# judged over 15 s, long enough for a 1 s scrape to have seen two samples.
MECHANISMS: dict[str, dict[str, Any]] = {
    # Open or half-open: anything but closed (0 closed, 1 open, 2 half-open).
    "breaker_open": {
        "query": 'max(gateway_breaker_state{dc="{dc}",pool="{pool}"}) > 0',
        "labels": ["dc", "pool"],
    },
    "fallback_served": {
        "query": 'sum(increase(gateway_fallback_total{dc="{dc}"}[15s])) > 0',
        "labels": ["dc"],
    },
    "rate_limited": {
        "query": 'sum(increase(gateway_ratelimited_total{tenant="{tenant}"}[15s])) > 0',
        "labels": ["tenant"],
    },
    # {pool} is a regular expression here (matched with =~), so one query covers a glob of pools.
    "ready_replicas": {"query": 'max by (pool) (supervisor_replicas{pool=~"{pool}"})', "labels": ["pool"]},
    "cache_bypassed": {
        "query": 'sum(increase(gateway_cache_bypass_total{dc="{dc}"}[15s])) > 0',
        "labels": ["dc"],
    },
    "dc_healthy": {"query": 'max(edge_dc_healthy{dc="{dc}"}) == 1', "labels": ["dc"]},
    # A counter selector, not a verdict: the degraded answers users got from the DC, counted
    # where the edge stamps the serving DC (probes take its increase over the fault window).
    "degraded_answers": {"query": 'edge_degraded_total{dc="{dc}"}', "labels": ["dc"]},
}


def system_file() -> Path:
    return paths.sandbox_system_file()


def _links(state: SandboxState) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = []
    for dc, info in sorted(state["dcs"].items()):
        for az, pool in sorted(info["azs"].items()):
            proxies = sorted(slot["proxy"] for slot in pool["slots"])
            links.append(
                {"dc": dc, "az": az, "link": "replicas", "proxies": proxies, "health_path": "/healthz"}
            )
        redis = info.get("redis") or {}
        if redis.get("proxy"):
            links.append({"dc": dc, "az": "*", "link": "redis", "proxies": [redis["proxy"]]})
    # Session state: the members' proxies by the DC they run in, and each state's replication link.
    sessions = state.get("sessions") or {}
    hosted: dict[str, list[str]] = {}
    for store in sessions.values():
        for host, member in store["members"].items():
            hosted.setdefault(host, []).append(member["proxy"])
    for dc, proxies in sorted(hosted.items()):
        links.append({"dc": dc, "az": "*", "link": "sessions", "proxies": sorted(proxies)})
    for owner, store in sorted(sessions.items()):
        links.append({"dc": owner, "az": "*", "link": "redis-repl", "proxies": [store["repl"]["proxy"]]})
    return links


def describe(state: SandboxState) -> dict[str, Any]:
    """The running sandbox as a system file document."""
    edge = state.get("edge") or {}
    doc: dict[str, Any] = {
        "apiVersion": "chaosdrill.io/v1",
        "kind": "System",
        "name": "chaosdrill-sandbox",
        "endpoints": {
            "base_url": edge["url"],
            "health_url": f"{edge['url']}/healthz",
            "requests": {
                "default": {
                    "method": "POST",
                    "path": "/v1/generate",
                    "headers": {"X-Tenant": "{tenant}", "X-User": "{user}", "X-Priority": "{priority}"},
                    "json": {"prompt": "drill {seq}", "max_tokens": 16},
                }
            },
            "outcomes": {"rejected_statuses": [429], "degraded": {"header": "X-Chaosdrill-Degraded"}},
        },
        "mechanisms": MECHANISMS,
        # Session writes and the headers that tell who served, which cell, and what was stored
        # (the contract is in chaosdrill.sandbox.session_store and docs/dc-loss.md).
        "headers": HEADERS,
        "session": {"read_path": "/v1/session/{user}", "write_path": "/v1/generate"},
    }
    toxiproxy = state.get("toxiproxy")
    if toxiproxy:
        doc["toxiproxy"] = [{"api": toxiproxy["api"], "links": _links(state)}]
    monitoring: Mapping[str, Any] = state.get("monitoring") or {}
    for name in ("prometheus", "alertmanager"):
        if isinstance(monitoring.get(name), Mapping) and monitoring[name].get("url"):
            doc[name] = {"url": monitoring[name]["url"]}
    webhook = monitoring.get("webhook")
    if isinstance(webhook, Mapping) and webhook.get("notifications"):
        doc["notifications"] = str(webhook["notifications"])
    return doc


def write(state: SandboxState, path: Path | None = None) -> Path:
    """Write the sandbox's system file atomically; returns its path."""
    target = path or system_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(
        "# Written by `chaosdrill sandbox up`: the running sandbox as a system file.\n"
        + yaml.safe_dump(describe(state), sort_keys=False),
        encoding="utf-8",
    )
    os.replace(tmp, target)
    return target


def remove() -> None:
    system_file().unlink(missing_ok=True)
