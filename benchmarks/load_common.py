"""Shared pieces of the load benchmarks: nginx on loopback, core pinning, the Locust venv.

The benchmarks compare tools on the same machine, the same target and the same cores,
so the only thing that differs is the generator. nginx (from apt) is the target because
it is fast enough that the generator, not the server, is the bottleneck.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "BODY",
    "HEADERS",
    "Nginx",
    "cores",
    "free_port",
    "locust_python",
    "machine",
    "nginx",
    "run_locust",
    "run_worker",
    "write_locustfile",
]

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv" / "bin" / "python"
BODY = json.dumps({"prompt": "chaosdrill load", "max_tokens": 64})
HEADERS = {
    "X-Tenant": "bench",
    "X-User": "u0",
    "X-Priority": "interactive",
    "Content-Type": "application/json",
}


def fail(message: str) -> None:
    print(json.dumps({"error": message}), flush=True)
    sys.exit(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cores() -> tuple[int, int, bool]:
    """(server core, generator core, whether they are distinct)."""
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) >= 2:
        return avail[-1], avail[0], True
    return avail[0], avail[0], False


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _which(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found is None:
        fail(f"{name} not found: install it with `apt-get install nginx wrk`")
    assert found is not None
    return found


class Nginx:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}/v1/generate"

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@contextmanager
def nginx(cpu: int) -> Iterator[Nginx]:
    """One single-process nginx worker answering 200 JSON to everything, pinned to ``cpu``."""
    binary = _which("nginx")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-nginx-") as tmp:
        (Path(tmp) / "logs").mkdir()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(
            f"""daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path {tmp}/body;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ default_type application/json; return 200 '{{"text":"ok"}}'; }}
  }}
}}
"""
        )
        proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), binary, "-p", tmp, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        fail(f"nginx exited with {proc.returncode}; see {tmp}/logs/error.log")
                    time.sleep(0.05)
            else:
                fail("nginx did not start listening within 10 s")
            yield Nginx(proc, port)
        finally:
            with_suppressed = proc.poll() is None
            if with_suppressed:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run_worker(profile: dict[str, Any], out: Path, cpu: int, timeout_s: float) -> dict[str, Any]:
    """Run chaosdrill's load worker pinned to ``cpu``; return its aggregate summary."""
    sys.path.insert(0, str(REPO))
    from chaosdrill.load import measurements

    out.mkdir(parents=True, exist_ok=True)
    prof = out / "profile.json"
    prof.write_text(json.dumps(profile))
    env = dict(os.environ, CHAOSDRILL_HOME=str(out / "home"))
    proc = subprocess.run(
        [
            "taskset",
            "-c",
            str(cpu),
            str(PY),
            "-m",
            "chaosdrill.load.worker",
            "--profile",
            str(prof),
            "--out",
            str(out),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        fail(f"load worker failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = measurements.aggregate(measurements.read_windows(out / "measurements.jsonl"))
    return summary.to_dict() | {"duration_s": summary.duration_s}


def locust_python() -> Path:
    """The Python of a venv with Locust, created on first use under the chaosdrill cache."""
    base = Path(os.environ.get("CHAOSDRILL_CACHE") or Path.home() / ".cache" / "chaosdrill")
    venv = base / "bench-venv"
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import locust"]
    if py.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return py
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        fail(f"cannot create the Locust venv {venv}: {made.stderr[-1000:]}")
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "locust"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if pip.returncode != 0 or subprocess.run(check, capture_output=True, check=False).returncode != 0:
        fail(f"cannot install Locust into {venv}: {pip.stderr[-1000:]}")
    return py


def write_locustfile(path: Path, per_user_rps: float | None) -> None:
    """A FastHttpUser posting the contract request; closed loop, optionally paced per user."""
    wait = "constant(0)" if per_user_rps is None else f"constant_throughput({per_user_rps})"
    path.write_text(
        f"""from locust import FastHttpUser, constant, constant_throughput, task

BODY = {BODY!r}
HEADERS = {HEADERS!r}


class Bench(FastHttpUser):
    wait_time = {wait}

    @task
    def generate(self):
        self.client.post("/v1/generate", data=BODY, headers=HEADERS)
"""
    )


def run_locust(
    host: str, users: int, seconds: int, cpu: int, per_user_rps: float | None, workdir: Path
) -> dict[str, float]:
    """Run Locust headless pinned to ``cpu``; the Aggregated row of its stats CSV, as numbers."""
    import csv

    py = locust_python()
    locustfile = workdir / "locustfile.py"
    write_locustfile(locustfile, per_user_rps)
    prefix = workdir / "locust"
    cmd = [
        *("taskset", "-c", str(cpu), str(py), "-m", "locust", "-f", str(locustfile), "--headless"),
        *("-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host),
        *("--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False, cwd=workdir)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        fail(f"locust produced no stats ({proc.returncode}): {proc.stderr[-2000:]}")
    with open(stats, newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return {
                    "requests": float(row["Request Count"]),
                    "failures": float(row["Failure Count"]),
                    "rps": float(row["Requests/s"]),
                    "p50_ms": float(row["50%"]),
                    "p99_ms": float(row["99%"]),
                    "max_ms": float(row["Max Response Time"]),
                }
    fail("locust stats have no Aggregated row")
    raise AssertionError("unreachable")
