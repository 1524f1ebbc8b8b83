"""Benchmark: requests/s per core, chaosdrill's open-model generator vs Locust FastHttpUser.

Target: one nginx worker (apt) answering 200 on loopback, pinned to one core; every
generator is pinned to the other core. wrk's figure is the reference ceiling.

chaosdrill is measured the way it is used: open model, latency from the scheduled time.
Its figure is the highest offered rate it *sustains* (completes >= 98 % of the offered
rate over the run, with p99 under 100 ms), found by stepping the rate up. Locust runs
closed-loop with no wait (its fastest mode), so its figure is an upper bound for it.
Prints one JSON object.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from benchmarks import load_common as common
except ImportError:  # run as a script
    import load_common as common  # type: ignore[no-redef]

SECONDS = 6
STEPS = (4000, 8000, 12000, 16000, 20000, 24000, 28000, 32000)


def wrk(url: str, cpu: int) -> float:
    binary = common._which("wrk")
    proc = subprocess.run(
        ["taskset", "-c", str(cpu), binary, "-t1", "-c64", f"-d{SECONDS}s", url],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split(":")[1])
    common.fail(f"wrk printed no Requests/sec: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    return 0.0


def chaosdrill_sustained(url: str, cpu: int, work: Path) -> tuple[float, list[dict[str, float]]]:
    best = 0.0
    tried: list[dict[str, float]] = []
    for rate in STEPS:
        profile = {
            "url": url,
            "duration_s": SECONDS,
            "max_in_flight": 64,
            "timeout_s": 10,
            "streams": [{"name": "bench", "tenant": "bench", "rate": rate, "users": 100}],
        }
        s = common.run_worker(profile, work / f"rate-{rate}", cpu, timeout_s=SECONDS + 60)
        achieved = s["completed"] / SECONDS
        p99 = s["p99_s"] or 0.0
        ok = s["completed"] >= 0.98 * rate * SECONDS and s["error"] == 0 and p99 < 0.100
        tried.append({"offered": rate, "completed_per_s": round(achieved), "p99_ms": round(p99 * 1000, 2)})
        if not ok:
            break
        best = float(rate)
    return best, tried


def main() -> int:
    server_cpu, gen_cpu, distinct = common.cores()
    result: dict[str, object] = {"benchmark": "load_throughput", "machine": common.machine()}
    result["cores"] = {"server": server_cpu, "generator": gen_cpu, "distinct": distinct}
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-") as tmp, common.nginx(server_cpu) as ngx:
        work = Path(tmp)
        result["wrk_rps"] = round(wrk(ngx.url, gen_cpu))
        ours, tried = chaosdrill_sustained(ngx.url, gen_cpu, work)
        result["chaosdrill_sustained_rps"] = ours
        result["chaosdrill_steps"] = tried
        locust_dir = work / "locust"
        locust_dir.mkdir()
        loc = common.run_locust(f"http://127.0.0.1:{ngx.port}", 64, SECONDS + 2, gen_cpu, None, locust_dir)
        result["locust_fasthttp_rps"] = round(loc["rps"])
        result["locust_fasthttp"] = loc
    ratio = ours / loc["rps"] if loc["rps"] else None
    result["ratio_vs_locust"] = None if ratio is None else round(ratio, 2)
    result["target_ratio"] = 2.0
    result["pass"] = ratio is not None and ratio >= 2.0
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
