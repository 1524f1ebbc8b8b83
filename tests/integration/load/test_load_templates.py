"""The real worker and engine against a service with its own API (not the sandbox's contract).

A tiny aiohttp service, started here on 127.0.0.1, answers ``GET /items/<user>?n=<seq>`` with
an ok answer, a ``{"degraded": true}`` fallback, a 503, a 409 or a bare 429, picked by the
sequence number; ``POST /items`` checks the JSON the template filled in; ``HEAD /health`` has a
Content-Length but no body. The service tallies what it answered per stream, and the load's
measurements must count exactly the same.
"""

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from threaded_app import serve_app

from chaosdrill.controls import load as load_control
from chaosdrill.load import control
from chaosdrill.load import measurements as m
from chaosdrill.load.profile import parse_profile
from chaosdrill.load.template import Endpoints, parse_endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TENANT = 'globex "eu"'


def _endpoints(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "requests": {
            "default": {
                "path": "/items/{user}?n={seq}",
                "headers": {"X-Stream": "{stream}", "Accept": "application/json"},
            },
            "writer": {
                "method": "POST",
                "path": "/items",
                "headers": {"X-Stream": "{stream}", "X-Tenant": "{tenant}"},
                "json": {"user": "{user}", "n": "{seq}", "tenant": "{tenant}", "note": 'say "hi"'},
            },
            "probe": {"method": "HEAD", "path": "/health", "headers": {"X-Stream": "{stream}"}},
        },
        "outcomes": {
            "rejected_statuses": [409, 429],
            "degraded": {"json_field": "degraded"},
            "served_by_header": "X-Served-By",
        },
    }


class _Service:
    """Answers by the sequence number and tallies, per stream, the outcome each answer must get."""

    def __init__(self) -> None:
        self.tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.served: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.seqs: defaultdict[str, list[int]] = defaultdict(list)
        self.bad: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/items/{user}", self.get_item),
                web.post("/items", self.post_item),
                web.get("/health", self.health),
            ]
        )
        return app

    def _note(self, request: web.Request, outcome: str, served: str) -> dict[str, str]:
        stream = request.headers.get("X-Stream", "?")
        self.tally[stream][outcome] += 1
        self.served[stream][served] += 1
        return {"X-Served-By": served}

    async def get_item(self, request: web.Request) -> web.Response:
        if not re.fullmatch(r"u\d+", request.match_info["user"]):
            self.bad.append(f"user {request.match_info['user']!r}")
        n = int(request.query["n"])
        self.seqs[request.headers.get("X-Stream", "?")].append(n)
        served = "dc1" if n % 2 == 0 else "dc2"
        kind = n % 6
        if kind in (0, 5):
            return web.json_response({"degraded": False, "id": n}, headers=self._note(request, "ok", served))
        if kind == 1:
            return web.json_response(
                {"degraded": True, "id": n}, headers=self._note(request, "degraded", served)
            )
        if kind == 2:
            return web.json_response(
                {"error": "down"}, status=503, headers=self._note(request, "503", served)
            )
        if kind == 3:
            return web.json_response(
                {"error": "conflict"}, status=409, headers=self._note(request, "rejected", served)
            )
        return web.json_response(
            {"error": "slow down"}, status=429, headers=self._note(request, "rejected_bare", served)
        )

    async def post_item(self, request: web.Request) -> web.Response:
        body = await request.json()
        expected = {"tenant": request.headers.get("X-Tenant"), "note": 'say "hi"'}
        if {k: body.get(k) for k in expected} != expected or not re.fullmatch(r"u\d+", body.get("user", "")):
            self.bad.append(f"body {body!r}")
            return web.json_response({"error": "bad body"}, status=400)
        self.seqs["writer"].append(int(body["n"]))
        return web.json_response({"id": body["n"]}, status=201, headers=self._note(request, "ok", "dc1"))

    async def health(self, request: web.Request) -> web.Response:
        if request.method != "HEAD":
            self.bad.append(f"health by {request.method}")
        return web.Response(text="healthy and well", headers=self._note(request, "ok", "dc2"))


@pytest.fixture
def service() -> Iterator[tuple[str, _Service]]:
    """The service on an ephemeral loopback port, in a thread with its own event loop."""
    svc = _Service()
    with serve_app(svc.app(), "template-service") as (url, _loop):
        yield url, svc


def _check_counts(measurements: Path, svc: _Service, streams: list[str]) -> None:
    windows = m.read_windows(measurements)
    assert not svc.bad, svc.bad[:5]
    for name in streams:
        s = m.aggregate(windows, streams=[name])
        seen = svc.tally[name]
        assert s.completed == s.sent == sum(seen.values()) > 0, (name, s.to_dict(), seen)
        assert s.ok == seen["ok"]
        assert s.degraded == seen["degraded"]
        assert s.rejected == seen["rejected"] + seen["rejected_bare"]
        assert s.rejected_without_retry_after == seen["rejected_bare"]
        assert s.errors == ({"503": seen["503"]} if seen["503"] else {})
        assert s.degraded_malformed == 0
        assert s.served_by == dict(svc.served[name])


def test_a_service_with_its_own_api_is_counted_right(
    service: tuple[str, _Service], chaos_home: Path, tmp_path: Path
) -> None:
    url, svc = service
    endpoints = parse_endpoints(_endpoints(url), "test")
    profile = parse_profile(
        {
            "url": endpoints.base_url,
            "duration_s": 2.0,
            "window_s": 0.5,
            "streams": [
                {"name": "reader", "rate": 150, "users": 7},
                {"name": "writer", "tenant": TENANT, "rate": 40, "users": 3},
                {"name": "probe", "rate": 20},
            ],
        }
    )
    handle = control.start(profile, tmp_path / "out", endpoints=endpoints)
    assert handle.wait(30), "the worker did not stop at duration_s"
    _check_counts(handle.measurements, svc, ["reader", "writer", "probe"])
    reader = svc.tally["reader"]
    assert all(reader[k] for k in ("ok", "degraded", "503", "rejected", "rejected_bare")), reader
    for name in ("reader", "writer"):
        assert sorted(svc.seqs[name]) == list(range(len(svc.seqs[name]))), f"{name}: every seq once, from 0"
    meta = m.read_meta(handle.measurements)
    assert Endpoints is not None and parse_endpoints(meta["endpoints"], "meta") == endpoints


def test_the_load_control_loads_the_selected_system(
    service: tuple[str, _Service], chaos_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, svc = service
    system = tmp_path / "system.yaml"
    # The file points at a closed port; the control's url argument aims it at the service.
    system.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "chaosdrill.io/v1",
                "kind": "System",
                "name": "items",
                "endpoints": _endpoints("http://127.0.0.1:9"),
            }
        )
    )
    monkeypatch.setenv("CHAOSDRILL_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("CHAOSDRILL_MEASUREMENTS", "")
    state: dict[str, Any] = {}
    try:
        load_control.before_experiment_control(
            None,
            profile={"streams": [{"name": "reader", "rate": 60, "users": 5}]},
            warmup_s=1.0,
            max_duration_s=30,
            url=url,
            configuration={"chaosdrill_target": "system", "chaosdrill_system": str(system)},
        )
    finally:
        load_control.after_experiment_control(None, state=state)
    measurements = Path(state["chaosdrill"]["measurements"])
    assert measurements == (tmp_path / "run" / "measurements.jsonl").resolve()
    _check_counts(measurements, svc, ["reader"])
    assert json.loads((tmp_path / "run" / "load.json").read_text())["state"] == "finished"
