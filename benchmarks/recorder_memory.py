"""Benchmark: the recorder's memory stays flat (windows go to disk, not to a list).

Feeds 1,000,000 completed requests straight into a Recorder (no network), spread over
1,000 one-second windows of simulated time in 4 streams, and reports the growth of the
process's resident set size from after a warm-up to the end. Passes under 50 MB.
Prints one JSON object.
"""

import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict  # noqa: E402
from chaosdrill.load.recorder import Recorder, StreamInfo  # noqa: E402

REQUESTS = 1_000_000
WARMUP = 20_000
WINDOWS = 1_000
LIMIT_MB = 50.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    verdicts = [
        Verdict(Outcome.OK),
        Verdict(Outcome.DEGRADED),
        Verdict(Outcome.REJECTED, no_retry_after=True),
        Verdict(Outcome.ERROR, ErrorReason.S503),
        Verdict(Outcome.ERROR, ErrorReason.TIMEOUT),
    ]
    weights = [90, 4, 3, 2, 1]
    rng = random.Random(1)
    picks = rng.choices(verdicts, weights, k=4096)
    latencies = [rng.lognormvariate(-4, 1.2) for _ in range(4096)]
    streams = [StreamInfo(f"s{i}", f"t{i % 2}", "interactive") for i in range(4)]
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-rec-") as tmp:
        path = Path(tmp) / "measurements.jsonl"
        start = 1_700_000_000.0
        rec = Recorder(path, streams, window_s=1.0, start=start, meta={}, target_rates=lambda: [250.0] * 4)
        step = WINDOWS / REQUESTS
        began = time.perf_counter()
        before = 0.0
        for i in range(REQUESTS):
            if i == WARMUP:
                before = rss_mb()
            now = start + i * step
            k = i & 4095
            rec.sent(i & 3, now)
            rec.record(i & 3, picks[k], latencies[k], now)
        rec.close(start + WINDOWS)
        after = rss_mb()
        elapsed = time.perf_counter() - began
        with open(path) as fh:
            lines = sum(1 for _ in fh)
        size = path.stat().st_size
    growth = after - before
    result = {
        "benchmark": "recorder_memory",
        "requests": REQUESTS,
        "windows_written": lines - 1,
        "file_mb": round(size / 2**20, 2),
        "rss_after_warmup_mb": round(before, 1),
        "rss_end_mb": round(after, 1),
        "rss_growth_mb": round(growth, 2),
        "limit_mb": LIMIT_MB,
        "records_per_s": round(REQUESTS / elapsed),
        "pass": growth < LIMIT_MB,
    }
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
