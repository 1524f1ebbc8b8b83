"""Benchmark: from an error-budget breach to the fault being gone, how long?

A guardrail earns its keep only if it pulls the fault out before users pay for long.
This starts the sandbox in a CHAOSDRILL_HOME of its own and runs, N times, a purpose-built
experiment (in a temporary folder) with the ledger, load and guardrail controls: every
gateway's breaker and fallback switched off, then every replica link cut, so 100 % of
requests fail from that moment on; the method then pauses far longer than the guardrail
should need. The judged figure is the ledger's: from recording the links cut (just before
it is applied, so from the start of the 100 % errors) to that fault marked reverted. It
contains everything: the measurement window filling, the guardrail's poll, the burn-rate
verdict and the revert. Beside it, the guardrail's own record from the journal:
``breach_to_removed_s`` (from the end of the window that showed the breach to the faults
gone) and the time from the start of the first window with errors to the faults gone.

The peer is the same experiment without the guardrail (one run, shorter pause): the fault
then stays until the method ends and the rollbacks run, which is what plain Chaos Toolkit
gives. Target (issue 11): median cut_to_restored_s <= 0.5 s over >= 10 runs. Prints one JSON object;
``{"pending": ...}`` (exit 0) when the guardrail control is not in the tree.
"""

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
RUNS = 12
MIN_RUNS = 10
LIMIT_S = 0.5  # issue 11; it was 2 s while the guardrail judged 1 s windows
PAUSE_S = 25  # far longer than an abort should take: only the guardrail ends the run early
PEER_PAUSE_S = 8
RUN_TIMEOUT_S = 90
BUDGET_S = 360.0  # for all guardrail runs together; whatever is done by then is reported
DCS = ("dc1", "dc2", "dc3")


def _activity(kind: str, name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


def experiment(with_guardrail: bool, pause_s: float) -> dict[str, Any]:
    controls: list[dict[str, Any]] = [
        {"name": "chaosdrill-ledger", "provider": {"type": "python", "module": "chaosdrill.controls.ledger"}},
        {
            "name": "chaosdrill-load",
            "provider": {
                "type": "python",
                "module": "chaosdrill.controls.load",
                "arguments": {
                    "warmup_s": 2,
                    "profile": {
                        "timeout_s": 2,
                        "streams": [
                            {
                                "name": "chat",
                                "tenant": "acme",
                                "priority": "interactive",
                                "rate": 100,
                                "users": 300,
                            }
                        ],
                    },
                },
            },
        },
    ]
    if with_guardrail:
        controls.append(
            {
                "name": "chaosdrill-guardrail",
                "provider": {"type": "python", "module": "chaosdrill.controls.guardrail"},
            }
        )
    method = [
        _activity(
            "action",
            f"defences-off-{dc}",
            "actions.defences",
            "disable_defences",
            dc=dc,
            breaker=True,
            fallback=True,
            ttl_s=120,
        )
        for dc in DCS
    ]
    cut = _activity(
        "action",
        "cut-every-replica-link",
        "actions.network",
        "disable_links",
        dc="*",
        az="*",
        link="replicas",
        ttl_s=120,
    )
    cut["pauses"] = {"after": pause_s}
    method.append(cut)
    rollbacks = [
        _activity(
            "action",
            "restore-replica-links",
            "actions.network",
            "enable_links",
            dc="*",
            az="*",
            link="replicas",
        )
    ]
    rollbacks += [
        _activity("action", f"restore-defences-{dc}", "actions.defences", "restore_defences", dc=dc)
        for dc in DCS
    ]
    return {
        "version": "1.0.0",
        "title": "Every request fails; the guardrail must pull the faults out",
        "description": "Benchmark of time to abort (benchmarks/time_to_abort.py).",
        "configuration": {"chaosdrill_target": "sandbox"},
        "controls": controls,
        "method": method,
        "rollbacks": rollbacks,
    }


def guardrail_available() -> bool:
    sys.path.insert(0, str(REPO))
    try:
        return importlib.util.find_spec("chaosdrill.controls.guardrail") is not None
    except ImportError:
        return False


def _fail(message: str) -> None:
    print(json.dumps({"error": message}), flush=True)
    sys.exit(2)


def _sandbox(env: dict[str, str], verb: str) -> None:
    proc = subprocess.run(
        [str(BIN / "chaosdrill"), "sandbox", verb],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        _fail(f"chaosdrill sandbox {verb} failed ({proc.returncode}): {proc.stderr[-1500:]}")


def _clean(env: dict[str, str], restore: bool = False) -> list[str]:
    """What a run left behind in toxiproxy (should be nothing); with ``restore``, undo it
    afterwards so the next run starts clean (the finding is kept, not hidden)."""
    state = json.loads(
        subprocess.run(
            [str(BIN / "chaosdrill"), "sandbox", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    api = state.get("toxiproxy")  # the API's URL
    api = api.get("api") if isinstance(api, dict) else api
    if not api:
        return ["no toxiproxy in sandbox status"]
    sys.path.insert(0, str(REPO))
    from chaosdrill.drivers.toxiproxy import ToxiproxyClient

    client = ToxiproxyClient(api)
    left = [p for p in client.proxies().values() if not p.enabled or p.toxics]
    if restore:
        for p in left:
            for toxic in p.toxics:
                client.remove_toxic(p.name, str(toxic.get("name")))
            if not p.enabled:
                client.update_proxy(p.name, enabled=True)
    return [
        f"{p.name}: enabled={p.enabled} toxics={len(p.toxics)}" for p in left if not p.enabled or p.toxics
    ]


def _keep_evidence(work: Path, index: int) -> str:
    """Copy a run's journal, log and ledger out of the temporary folder for a post-mortem."""
    cache = Path(os.environ.get("CHAOSDRILL_CACHE") or Path.home() / ".cache" / "chaosdrill")
    keep = cache / "bench" / "time_to_abort-evidence" / f"{time.strftime('%Y%m%dT%H%M%S')}-run{index}"
    keep.mkdir(parents=True, exist_ok=True)
    for src in (
        work / f"journal-guarded-{index}.json",
        work / "chaostoolkit.log",
        work / "home" / "ledger.jsonl",
    ):
        if src.exists():
            shutil.copy2(src, keep / src.name)
    return str(keep)


def _one(path: Path, work: Path, env: dict[str, str], index: int) -> dict[str, Any]:
    journal = work / f"journal-{path.stem}-{index}.json"
    began = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "chaos"), "--no-version-check", "run", "--journal-path", str(journal), str(path)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    wall = time.monotonic() - began
    if not journal.exists():
        _fail(f"{path.name} run {index}: no journal (exit {proc.returncode}): {proc.stderr[-1500:]}")
    data = json.loads(journal.read_text())
    section = data.get("chaosdrill") or {}
    cut = [f for f in section.get("faults", []) if f.get("kind") == "link_cut"]
    cut_s = None
    if cut and cut[0].get("reverted_at"):
        cut_s = cut[0]["reverted_at"] - cut[0]["injected_at"]
    left = [f["description"] for f in section.get("faults", []) if not f.get("reverted_at")]
    guard = section.get("guardrail") or {}
    first_error, removed = guard.get("errors_began_at"), guard.get("faults_removed_at")
    began_s = None
    if isinstance(first_error, (int, float)) and isinstance(removed, (int, float)):
        began_s = removed - first_error
    how = sorted({str(f.get("how")) for f in section.get("faults", [])})
    return {
        "status": data.get("status"),
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "breach_to_removed_s": guard.get("breach_to_removed_s"),
        "cut_to_restored_s": None if cut_s is None else round(cut_s, 3),
        "errors_began_to_removed_s": None if began_s is None else round(began_s, 3),
        "reverted_how": how,
        "faults_left_active": left,
        "guardrail": guard,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--quick", action="store_true", help="3 runs (not enough for the target)")
    args = parser.parse_args()
    if not guardrail_available():
        print(json.dumps({"benchmark": "time_to_abort", "pending": "guardrail not available"}, indent=2))
        return 0
    runs = 3 if args.quick else max(args.runs, MIN_RUNS)
    result: dict[str, Any] = {"benchmark": "time_to_abort", "pause_s": PAUSE_S, "limit_s": LIMIT_S}
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-abort-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, CHAOSDRILL_HOME=str(work / "home"))
        for key in ("CHAOSDRILL_RUN_ID", "CHAOSDRILL_MEASUREMENTS", "CHAOSDRILL_RUN_DIR"):
            env.pop(key, None)
        guarded = work / "guarded.json"
        guarded.write_text(json.dumps(experiment(True, PAUSE_S)))
        peer = work / "peer.json"
        peer.write_text(json.dumps(experiment(False, PEER_PAUSE_S)))
        _sandbox(env, "up")
        try:
            samples: list[dict[str, Any]] = []
            deadline = time.monotonic() + BUDGET_S
            while len(samples) < runs and time.monotonic() < deadline:
                samples.append(_one(guarded, work, env, len(samples)))
                leftovers = _clean(env, restore=True)
                if leftovers:
                    # A finding about the system, not a broken benchmark: keep the evidence,
                    # restore the links so the next runs measure cleanly, and fail the target.
                    samples[-1]["left_behind"] = leftovers
                    samples[-1]["evidence"] = _keep_evidence(work, len(samples) - 1)
                time.sleep(1.0)  # let the gateways' connection pools refill
            peer_run = _one(peer, work, env, 0)
            peer_run["left_behind"] = _clean(env, restore=True)
        finally:
            _sandbox(env, "down")
    measured = [
        s["breach_to_removed_s"] for s in samples if isinstance(s["breach_to_removed_s"], (int, float))
    ]
    cut = [s["cut_to_restored_s"] for s in samples if s["cut_to_restored_s"] is not None]
    aborted = sum(1 for s in samples if isinstance(s["breach_to_removed_s"], (int, float)))
    result["runs"] = len(samples)
    result["aborted_by_guardrail"] = aborted
    result["statuses"] = sorted({str(s["status"]) for s in samples})
    result["breach_to_removed_median_s"] = round(statistics.median(measured), 3) if measured else None
    result["breach_to_removed_max_s"] = round(max(measured), 3) if measured else None
    result["cut_to_restored_median_s"] = round(statistics.median(cut), 3) if cut else None
    result["cut_to_restored_max_s"] = round(max(cut), 3) if cut else None
    began = [s["errors_began_to_removed_s"] for s in samples if s["errors_began_to_removed_s"] is not None]
    result["errors_began_to_removed_median_s"] = round(statistics.median(began), 3) if began else None
    result["peer_without_guardrail"] = {
        "pause_s": PEER_PAUSE_S,
        "status": peer_run["status"],
        "cut_to_restored_s": peer_run["cut_to_restored_s"],
    }
    left = [i for i, s in enumerate(samples) if s.get("left_behind")]
    result["runs_that_left_faults"] = left
    result["left_behind"] = {i: samples[i]["left_behind"] for i in left}
    result["evidence"] = {i: samples[i]["evidence"] for i in left}
    result["samples"] = samples
    median = result["cut_to_restored_median_s"]
    result["pass"] = bool(
        len(samples) >= MIN_RUNS
        and aborted == len(samples)
        and not left
        and not peer_run["left_behind"]
        and median is not None
        and median <= LIMIT_S
    )
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
