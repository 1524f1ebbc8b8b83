"""The sandbox's own halves of the negative controls' switches, served in-process by aiohttp's
test server: the autoscaler's per-DC pause and the edge's per-DC health checks, each with its
bad-input answer and its gauge; and the edge's per-second account of degraded answers."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chaosdrill.sandbox.autoscaler import Autoscaler
from chaosdrill.sandbox.edge import DcHealth, Edge
from chaosdrill.sandbox.topology import AutoscalerSpec, EdgeSpec

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

DCS = ("dc1", "dc2", "dc3")


async def _exchange(app: web.Application, calls: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    out = []
    async with TestClient(TestServer(app)) as client:
        for method, path, body in calls:
            resp = await client.request(method, path, json=body)
            out.append((resp.status, await resp.json()))
    return out


def test_the_autoscaler_pauses_one_dc_at_a_time(tmp_path: Path) -> None:
    scaler = Autoscaler(AutoscalerSpec(), tmp_path / "state.json", DCS)
    answers = asyncio.run(
        _exchange(
            scaler.app(),
            [
                ("POST", "/admin/paused", {"dc": "dc2", "paused": True}),
                ("GET", "/admin/state", None),
                ("POST", "/admin/paused", {"dc": "dc2", "paused": False}),
                ("POST", "/admin/paused", {"dc": "dc9", "paused": True}),
                ("POST", "/admin/paused", {"dc": "dc1", "paused": "yes"}),
            ],
        )
    )
    assert answers[0] == (200, {"dc": "dc2", "previous": False, "paused": True})
    assert answers[1][1]["paused"] == ["dc2"]
    assert answers[2] == (200, {"dc": "dc2", "previous": True, "paused": False})
    assert [a[0] for a in answers[3:]] == [400, 400]
    assert "dc1, dc2, dc3" in answers[3][1]["error"]
    assert scaler.paused == set()
    assert scaler.m_paused.labels("dc2")._value.get() == 0


def test_the_edge_stops_and_restarts_one_dcs_health_checks(tmp_path: Path) -> None:
    edge = Edge(list(DCS), EdgeSpec(), tmp_path / "state.json")
    answers = asyncio.run(
        _exchange(
            edge.app(),
            [
                ("POST", "/admin/health-checks", {"dc": "dc3", "enabled": False}),
                ("GET", "/admin/health-checks", None),
                ("POST", "/admin/health-checks", {"dc": "nope", "enabled": True}),
            ],
        )
    )
    assert answers[0] == (200, {"dc": "dc3", "previous": True, "enabled": False})
    assert answers[1] == (200, {"stopped": ["dc3"]})
    assert answers[2][0] == 400
    assert edge.unchecked == {"dc3"}
    assert edge.m_checks.labels("dc3")._value.get() == 0
    assert edge.m_checks.labels("dc1")._value.get() == 1


def test_an_unchecked_dc_keeps_its_health_while_its_gateway_is_gone(tmp_path: Path) -> None:
    """The health loop checks only the DCs a drill has not stopped: a dead gateway in an
    unchecked DC stays healthy (its cells never move); a checked one goes down."""
    edge = Edge(["dc1", "dc2"], EdgeSpec(health_interval_s=0.05, unhealthy_after=2), tmp_path / "state.json")
    for h in edge.health.values():
        h.url = "http://127.0.0.1:9"  # discard port: nothing answers
    edge.unchecked.add("dc2")

    async def run_loop() -> None:
        await edge.on_started()
        await asyncio.sleep(0.6)
        edge._task.cancel()
        assert edge.session is not None
        await edge.session.close()

    asyncio.run(run_loop())
    assert edge.health["dc1"].healthy is False
    assert edge.health["dc2"].healthy is True and edge.health["dc2"].transitions == []


def test_degraded_answers_are_kept_per_second() -> None:
    h = DcHealth("dc1")
    for at in (100.1, 100.9, 101.0, 105.5):
        h.count_degraded(at)
    assert list(h.degraded) == [[100, 2], [101, 1], [105, 1]]
