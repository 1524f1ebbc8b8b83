"""Benchmark: does a 1 s server stall show up in the latency percentiles?

A constant 1,000 req/s goes to nginx; after 2 s nginx is frozen with SIGSTOP for 1 s.
An open-model generator keeps sending on schedule and measures from the scheduled time,
so about a fifth of a 5 s run waits out (part of) the stall: its p99 must be >= 0.9 s.
Locust (closed model: 20 users at 50 req/s each) stops sending while its users wait, so
the stall is recorded for only the ~20 requests in flight: its p99 barely moves.
Prints one JSON object.
"""

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    from benchmarks import load_common as common
except ImportError:  # run as a script
    import load_common as common  # type: ignore[no-redef]

RATE = 1000
SECONDS = 5
STALL_AT_S = 2.0
STALL_S = 1.0


def _stall_later(ngx: common.Nginx, delay_s: float) -> threading.Thread:
    def stall() -> None:
        time.sleep(delay_s)
        ngx.pause()
        time.sleep(STALL_S)
        ngx.resume()

    t = threading.Thread(target=stall, daemon=True)
    t.start()
    return t


def main() -> int:
    server_cpu, gen_cpu, distinct = common.cores()
    result: dict[str, object] = {
        "cores_distinct": distinct,
        "benchmark": "coordinated_omission",
        "machine": common.machine(),
    }
    result["setup"] = {"rate": RATE, "seconds": SECONDS, "stall_at_s": STALL_AT_S, "stall_s": STALL_S}
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-co-") as tmp, common.nginx(server_cpu) as ngx:
        work = Path(tmp)
        profile = {
            "url": ngx.url,
            "duration_s": SECONDS,
            "timeout_s": 10,
            "streams": [{"name": "co", "tenant": "bench", "rate": RATE, "users": 100}],
        }
        # The worker needs a moment to start; the stall is timed from its launch plus that.
        stall = _stall_later(ngx, STALL_AT_S + 0.5)
        ours = common.run_worker(profile, work / "chaosdrill", gen_cpu, timeout_s=SECONDS + 60)
        stall.join()
        result["chaosdrill"] = {k: ours[k] for k in ("sent", "completed", "ok", "error", "p50_s", "p99_s")}

        locust_dir = work / "locust"
        locust_dir.mkdir()
        users, per_user = 20, RATE / 20
        stall = _stall_later(ngx, STALL_AT_S + 1.5)  # Locust takes longer to start
        loc = common.run_locust(
            f"http://127.0.0.1:{ngx.port}", users, SECONDS + 1, gen_cpu, per_user, locust_dir
        )
        stall.join()
        result["locust_fasthttp"] = {"users": users, "per_user_rps": per_user, **loc}
    p99 = float(ours["p99_s"] or 0.0)
    result["chaosdrill_p99_s"] = p99
    result["locust_p99_s"] = loc["p99_ms"] / 1000
    result["pass"] = p99 >= 0.9
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
