"""Benchmark: what chaosdrill's controls add to a `chaos run`.

Every chaosdrill experiment declares the ledger control (and the guardrail, once it is
there); if they made each run noticeably slower, short drills would pay for it. This runs
a no-op experiment (one probe: ``os.getpid``) with plain ``chaos run`` — the peer — and
the same experiment with the controls, interleaved A B A B so that a busy moment of a
shared machine lands on both. Wall time of the whole ``chaos run`` process, median of N.

The load control is left out on purpose: it waits a deliberate warm-up (3 s by default)
so the first probes have measurement windows to read; that is a choice of the experiment,
not overhead. The guardrail gets a measurements file holding only its meta line, the
state the load control leaves before the first window closes.

Target: median(with controls) - median(plain) <= 0.5 s. Prints one JSON object.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
CHAOS = REPO / ".venv" / "bin" / "chaos"
RUNS = 20
LIMIT_S = 0.5
RUN_TIMEOUT_S = 60

NOOP: dict[str, Any] = {
    "version": "1.0.0",
    "title": "no-op",
    "description": "One probe that reads the runner's pid: what is left is the runner's own cost.",
    "method": [
        {"type": "probe", "name": "pid", "provider": {"type": "python", "module": "os", "func": "getpid"}}
    ],
}


def _control(name: str, module: str) -> dict[str, Any]:
    return {"name": name, "provider": {"type": "python", "module": module}}


def guardrail_available() -> bool:
    sys.path.insert(0, str(REPO))
    try:
        return importlib.util.find_spec("chaosdrill.controls.guardrail") is not None
    except ImportError:
        return False


def _run(experiment: Path, work: Path, index: int, env: dict[str, str]) -> float:
    journal = work / f"journal-{experiment.stem}-{index}.json"
    began = time.perf_counter()
    proc = subprocess.run(
        [str(CHAOS), "--no-version-check", "run", "--journal-path", str(journal), str(experiment)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - began
    status = json.loads(journal.read_text()).get("status") if journal.exists() else None
    if proc.returncode != 0 or status != "completed":
        print(
            json.dumps(
                {
                    "error": f"{experiment.name}: exit {proc.returncode}, status {status}: {proc.stderr[-1500:]}"
                }
            )
        )
        sys.exit(2)
    return elapsed


def import_cost(modules: list[str]) -> dict[str, Any]:
    """What importing the controls costs in a fresh interpreter: the usual suspect for overhead.

    Returns the total and the slowest chaosdrill modules by cumulative import time (from
    ``python -X importtime``), so a miss comes with its cause.
    """
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-X",
            "importtime",
            "-c",
            "; ".join(f"import {m}" for m in modules),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    cumulative: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            cumulative[parts[2]] = int(parts[1]) / 1e6
    top = sorted(
        (
            (name, t)
            for name, t in cumulative.items()
            if name.startswith("chaosdrill") and name not in modules
        ),
        key=lambda kv: -kv[1],
    )[:5]
    return {
        "total_s": round(sum(cumulative.get(m, 0.0) for m in modules), 3),
        "slowest_chaosdrill_modules_s": {name: round(t, 3) for name, t in top},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--quick", action="store_true", help="6 runs of each")
    args = parser.parse_args()
    runs = 6 if args.quick else args.runs
    with_guardrail = guardrail_available()
    controls = [_control("chaosdrill-ledger", "chaosdrill.controls.ledger")]
    if with_guardrail:
        controls.append(_control("chaosdrill-guardrail", "chaosdrill.controls.guardrail"))
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-ovh-") as tmp:
        work = Path(tmp)
        plain = work / "plain.json"
        plain.write_text(json.dumps(NOOP))
        controlled = work / "controlled.json"
        controlled.write_text(json.dumps(NOOP | {"controls": controls}))
        measurements = work / "measurements.jsonl"
        measurements.write_text(
            json.dumps({"meta": {"started": time.time(), "window_s": 1.0, "streams": []}}) + "\n"
        )
        env = dict(os.environ, CHAOSDRILL_HOME=str(work / "home"), CHAOSDRILL_MEASUREMENTS=str(measurements))
        env.pop("CHAOSDRILL_RUN_ID", None)
        # One untimed run of each first: the first import of the packages fills the page cache.
        _run(plain, work, -1, env)
        _run(controlled, work, -1, env)
        a: list[float] = []
        b: list[float] = []
        for i in range(runs):
            a.append(_run(plain, work, i, env))
            b.append(_run(controlled, work, i, env))
    added = statistics.median(b) - statistics.median(a)
    cost = import_cost([str(c["provider"]["module"]) for c in controls])
    result = {
        "benchmark": "run_overhead",
        "runs_each": runs,
        "controls": [c["name"] for c in controls],
        "guardrail_included": with_guardrail,
        "plain_median_s": round(statistics.median(a), 3),
        "plain_max_s": round(max(a), 3),
        "controlled_median_s": round(statistics.median(b), 3),
        "controlled_max_s": round(max(b), 3),
        "added_median_s": round(added, 3),
        "paired_added_median_s": round(statistics.median(y - x for x, y in zip(a, b, strict=True)), 3),
        "controls_import": cost,
        "limit_s": LIMIT_S,
        "pass": added <= LIMIT_S,
    }
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
