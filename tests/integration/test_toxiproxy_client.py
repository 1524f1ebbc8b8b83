"""The toxiproxy client against the real server: proxies, toxics, idempotent removal,
and a clear error when the server is not there."""

import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from chaosdrill import tools
from chaosdrill.drivers.toxiproxy import ToxiproxyClient, ToxiproxyError
from chaosdrill.errors import NotRunning
from chaosdrill.sandbox.supervisor import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[ToxiproxyClient]:
    port = free_port()
    proc = subprocess.Popen(
        [str(tools.toxiproxy_server()), "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = ToxiproxyClient(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.version()
            break
        except NotRunning:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield client
    proc.terminate()
    proc.wait(5)


@pytest.fixture()
def echo_server() -> Iterator[int]:
    """A one-line TCP echo server: the upstream behind the proxy."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                data = conn.recv(64)
                conn.sendall(data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    srv.close()


def round_trip(listen: str) -> float:
    host, port = listen.rsplit(":", 1)
    start = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"ping")
        assert s.recv(64) == b"ping"
    return time.perf_counter() - start


def test_latency_toxic_adds_latency_and_removal_is_idempotent(
    toxiproxy: ToxiproxyClient, echo_server: int
) -> None:
    proxy = toxiproxy.create_proxy("t-echo", f"127.0.0.1:{echo_server}")
    try:
        base = round_trip(proxy.listen)
        toxiproxy.add_toxic("t-echo", "lat", "latency", {"latency": 200, "jitter": 0})
        assert [t["name"] for t in toxiproxy.toxics("t-echo")] == ["lat"]
        slowed = round_trip(proxy.listen)
        assert slowed >= 0.19 and slowed > base
        toxiproxy.remove_toxic("t-echo", "lat")
        toxiproxy.remove_toxic("t-echo", "lat")  # idempotent
        assert toxiproxy.toxics("t-echo") == []
        assert round_trip(proxy.listen) < 0.15
    finally:
        toxiproxy.delete_proxy("t-echo")


def test_duplicate_toxic_is_refused(toxiproxy: ToxiproxyClient, echo_server: int) -> None:
    toxiproxy.create_proxy("t-dup", f"127.0.0.1:{echo_server}")
    try:
        toxiproxy.add_toxic("t-dup", "x", "latency", {"latency": 1})
        with pytest.raises(ToxiproxyError, match="409"):
            toxiproxy.add_toxic("t-dup", "x", "latency", {"latency": 1})
    finally:
        toxiproxy.delete_proxy("t-dup")


def test_disabled_proxy_refuses_connections(toxiproxy: ToxiproxyClient, echo_server: int) -> None:
    proxy = toxiproxy.create_proxy("t-off", f"127.0.0.1:{echo_server}")
    try:
        toxiproxy.update_proxy("t-off", enabled=False)
        with pytest.raises(OSError):
            round_trip(proxy.listen)
        toxiproxy.update_proxy("t-off", enabled=True)
        round_trip(proxy.listen)
    finally:
        toxiproxy.delete_proxy("t-off")


def test_browser_user_agent_is_refused_ours_is_not(toxiproxy: ToxiproxyClient) -> None:
    resp = requests.get(f"{toxiproxy.api}/version", headers={"User-Agent": "Mozilla/5.0"}, timeout=5)
    assert resp.status_code == 403
    assert toxiproxy.version()


def test_server_not_running_says_how_to_start() -> None:
    client = ToxiproxyClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NotRunning, match="chaosdrill sandbox up"):
        client.proxies()
