"""Where session state lives and what a sequence header may hold: the pure rules the sandbox's
gateways, edge and supervisor share."""

import asyncio

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.sandbox.cells import home_dc, home_dc_index, replica_host
from chaosdrill.sandbox.session_store import SessionStoreClient, SessionUnavailable, parse_seq
from chaosdrill.sandbox.topology import topology_from_dict

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

DCS = ("dc1", "dc2", "dc3")


def test_each_state_is_replicated_to_the_next_dc_in_ring_order() -> None:
    assert [replica_host(dc, DCS) for dc in DCS] == ["dc2", "dc3", "dc1"]
    assert replica_host("dc1", ("dc1",)) is None


def test_cells_are_stable_and_spread_over_every_dc() -> None:
    homes = [home_dc(f"user-{i}", DCS) for i in range(300)]
    assert homes == [home_dc(f"user-{i}", DCS) for i in range(300)]
    assert all(homes.count(dc) > 60 for dc in DCS)
    assert home_dc("alice", DCS) == DCS[home_dc_index("alice", 3)]


@pytest.mark.parametrize("raw", ["0", " 17 ", "9007199254740991"])
def test_a_sequence_number_is_a_non_negative_integer(raw: str) -> None:
    assert parse_seq(raw) == int(raw)


@pytest.mark.parametrize("raw", ["-1", "1.5", "", "x", "9007199254740992"])
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_seq(raw)


def test_a_cell_with_no_known_store_is_unavailable_not_acknowledged() -> None:
    client = SessionStoreClient(0.1, 16)
    client.update({"dc1": {"primary": "dc2", "address": "127.0.0.1:9"}})
    assert client.route("dc1").primary == "dc2"
    with pytest.raises(SessionUnavailable, match="no session store known for cell dc3"):
        asyncio.run(client.write("dc3", "u", 1))
    with pytest.raises(SessionUnavailable, match=r"session store of dc1 \(dc2\) failed"):
        asyncio.run(client.write("dc1", "u", 1))  # the discard port refuses: an error, never an ack


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"sessions": {"keep_seqs": 0}}, "sessions.keep_seqs"),
        ({"sessions": {"write_timeout_s": 0}}, "sessions"),
        ({"sessions": {"replicas": 2}}, "sessions.replicas"),
    ],
)
def test_bad_session_settings_in_a_topology_name_their_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(BadInput) as caught:
        topology_from_dict(raw, "topo.yaml")
    assert caught.value.field == field
