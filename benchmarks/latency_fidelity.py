"""Benchmark: does a latency toxic add the latency it was asked to add?

A drill that says "100 ms on this link" is only as honest as the delay it really injects.
This runs the real toxiproxy server (chaosdrill's pinned build) in front of a tiny loopback
echo server in its own process, with two proxies to the same upstream: one clean (the
peer: the same path without the toxic) and one with the toxic. Many connections take
turns on both, a clean round trip then a toxic one, so machine noise hits both alike.
Added latency = toxic round trip - median clean round trip.

Cases: 100 ms (jitter 0) and 100 +- 50 ms. Targets: the median added latency within
+-2 ms of 100 ms; every sample's added latency inside [latency - jitter, latency + jitter]
(with the same 2 ms of measurement slack at both ends) for at least 99 % of samples: the
rest are allowed for stalls of a shared machine, and min/max are reported raw beside it.
Prints one JSON object.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chaosdrill import tools  # noqa: E402
from chaosdrill.drivers.toxiproxy import ToxiproxyClient  # noqa: E402

__all__ = ["Case", "main"]

MESSAGE = b"x" * 63 + b"\n"
CONNECTIONS = 32  # more would measure the client's own event loop
SLACK_MS = 2.0
DEADLINE_S = 60.0  # per case, whatever the sample count
STAGGER_S = 0.1 / CONNECTIONS
PAUSE_MAX_S = 0.01
# A shared machine stalls now and then; a sample caught by a stall is the machine's
# latency, not the toxic's. Up to this share of samples may fall outside the bounds.
OUTSIDE_ALLOWED = 0.01


@dataclass(frozen=True)
class Case:
    name: str
    latency_ms: int
    jitter_ms: int
    samples: int


# The median of a uniform jitter of width 2j has a standard error of about j/sqrt(n):
# 6,000 samples put it near 0.65 ms for j = 50, well inside the 2 ms tolerance.
CASES = (Case("100ms", 100, 0, 2000), Case("100+-50ms", 100, 50, 6000))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _echo_server(port: int) -> None:
    """Serve echo on ``port`` until killed (runs in a child process)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    _run(serve())


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with {proc.returncode}") from None
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within 15 s")


@contextmanager
def _process(cmd: list[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, what)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    """One echo round trip, in milliseconds."""
    began = time.perf_counter_ns()
    writer.write(MESSAGE)
    await reader.readexactly(len(MESSAGE))
    return (time.perf_counter_ns() - began) / 1e6


async def _measure(clean_port: int, toxic_port: int, samples: int) -> tuple[list[float], list[float]]:
    """Interleaved clean/toxic round trips over CONNECTIONS pairs, bounded by count and time."""
    clean: list[float] = []
    toxic: list[float] = []
    deadline = time.monotonic() + DEADLINE_S
    remaining = [samples]

    async def worker(index: int) -> None:
        rng = random.Random(index)
        # Stagger the starts: with a constant delay, workers started together stay in
        # lock step, and their bursts would measure the event loop rather than the toxic.
        await asyncio.sleep(index * STAGGER_S)
        cr, cw = await asyncio.open_connection("127.0.0.1", clean_port)
        tr, tw = await asyncio.open_connection("127.0.0.1", toxic_port)
        try:
            # The first round trip on a connection includes toxiproxy's upstream dial: discard it.
            await _round_trip(cr, cw)
            await _round_trip(tr, tw)
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                clean.append(await _round_trip(cr, cw))
                toxic.append(await _round_trip(tr, tw))
                # A random pause between pairs: with a constant delay, workers bunched by one
                # stall would stay bunched, and their bursts would measure the client itself.
                await asyncio.sleep(rng.uniform(0.0, PAUSE_MAX_S))
        finally:
            cw.close()
            tw.close()

    await asyncio.gather(*(worker(i) for i in range(CONNECTIONS)))
    return clean, toxic


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run_case(client: ToxiproxyClient, case: Case, upstream: str) -> dict[str, Any]:
    clean_name, toxic_name = f"bench-clean-{case.name}", f"bench-toxic-{case.name}"
    clean = client.create_proxy(clean_name, upstream)
    toxic = client.create_proxy(toxic_name, upstream)
    try:
        client.add_toxic(
            toxic_name, "latency", "latency", {"latency": case.latency_ms, "jitter": case.jitter_ms}
        )
        clean_ms, toxic_ms = _run(
            _measure(int(clean.listen.rsplit(":", 1)[1]), int(toxic.listen.rsplit(":", 1)[1]), case.samples)
        )
    finally:
        client.delete_proxy(toxic_name)
        client.delete_proxy(clean_name)
    if len(toxic_ms) < case.samples:
        raise SystemExit(f"{case.name}: only {len(toxic_ms)} of {case.samples} samples within {DEADLINE_S} s")
    base = statistics.median(clean_ms)
    added = [t - base for t in toxic_ms]
    lo, hi = case.latency_ms - case.jitter_ms, case.latency_ms + case.jitter_ms
    median_added = statistics.median(added)
    median_ok = abs(median_added - case.latency_ms) <= SLACK_MS
    outside = sum(1 for a in added if not lo - SLACK_MS <= a <= hi + SLACK_MS) / len(added)
    bounds_ok = outside <= OUTSIDE_ALLOWED
    return {
        "requested_ms": case.latency_ms,
        "jitter_ms": case.jitter_ms,
        "bounds_ms": [lo, hi],
        "samples": len(added),
        "clean_median_ms": round(base, 3),
        "clean_p99_ms": round(_percentile(clean_ms, 99), 3),
        "added_median_ms": round(median_added, 2),
        "added_min_ms": round(min(added), 2),
        "added_p1_ms": round(_percentile(added, 1), 2),
        "added_p99_ms": round(_percentile(added, 99), 2),
        "added_max_ms": round(max(added), 2),
        "fraction_outside_bounds_with_slack": round(outside, 5),
        # The machine's own noise at the same moments: clean round trips > 2 ms over their median.
        "clean_fraction_over_slack": round(
            sum(1 for c in clean_ms if c > base + SLACK_MS) / len(clean_ms), 5
        ),
        "outside_allowed": OUTSIDE_ALLOWED,
        "median_error_ms": round(median_added - case.latency_ms, 2),
        "median_ok": median_ok,
        "bounds_ok": bounds_ok,
        "pass": median_ok and bounds_ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples")
    args = parser.parse_args()
    if args.echo:
        _echo_server(args.echo)
        return 0
    binary = tools.toxiproxy_server()
    result: dict[str, Any] = {"benchmark": "latency_fidelity", "toxiproxy": tools.TOXIPROXY.version}
    echo_port, api_port = _free_port(), _free_port()
    cases = [Case(c.name, c.latency_ms, c.jitter_ms, c.samples // 10) for c in CASES] if args.quick else CASES
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-lat-") as tmp:
        echo_cmd = [sys.executable, str(Path(__file__).resolve()), "--echo", str(echo_port)]
        toxi_cmd = [str(binary), "-host", "127.0.0.1", "-port", str(api_port)]
        with (
            _process(echo_cmd, echo_port, "echo server"),
            _process(toxi_cmd, api_port, "toxiproxy-server"),
        ):
            os.chdir(tmp)
            client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
            result["cases"] = {c.name: run_case(client, c, f"127.0.0.1:{echo_port}") for c in cases}
    result["connections"] = CONNECTIONS
    result["slack_ms"] = SLACK_MS
    result["pass"] = all(c["pass"] for c in result["cases"].values())
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
