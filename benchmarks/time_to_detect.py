"""Benchmark: how long after a full outage begins does the fast-burn page fire?

monitoring/README.md gives the arithmetic: with steady traffic and every answer an error from
t = 0, the error ratio over a long window W is t / W, so ``ErrorBudgetBurnFast`` (burn rate B
over its long and short windows) can fire once t = W x B x (1 - objective), and Prometheus adds
at most one scrape interval (the errors must be scraped) and one rule evaluation interval. At
the sandbox's 99.5 % objective that is 60 s x 14.4 x 0.005 = 4.32 s, plus 1 s, plus 1 s: 6.32 s.
This benchmark reads every one of those inputs from the running Prometheus (the objective from
its recorded error budget, burn rates and windows from the alert's expression and the recording
rules it reads, the scrape interval of the job that scrapes the SLI's metric from its config,
the evaluation interval from the alert's rule group) and measures the real thing against it.

It starts the sandbox in a CHAOSDRILL_HOME of its own, sends steady load at the edge for the
whole figure (``chaosdrill load run``: the long window must hold steady traffic before every
fault, and the load control would stop between experiments), and runs, N times, a purpose-built
experiment with ``chaos run``:

- steady state (before the method only): wait, bounded, until the alert is not firing and the
  alert's long-window error ratio is back to ~0, so the previous run's errors have left the
  window and the run starts as the arithmetic assumes (the first run also waits until the load
  has filled the long window);
- method: every gateway's breaker and fallback off, then every replica link cut, so the edge
  answers 5xx to everything; ``probes.alerts.alert_fires_within`` gives the time to detect,
  from the ledger's record of the cut (written just before it is applied) to the evaluation
  that wrote the alert firing; then the links and defences come back at once, and
  ``probes.alerts.notification_received_within`` gives the time to notify (the webhook
  receiver's file).

Afterwards Prometheus is asked, per run, for the evidence that the run measured what the
arithmetic describes: the long window's error ratio just before the fault (clean start), the
traffic in it, the short window's peak error ratio during the outage (a full outage), and when
the first errors were scraped. Target: median and max time to detect within the bound.
Prints one JSON object.
"""

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import yaml

__all__ = [
    "burn_conditions",
    "detection_bound",
    "journal_facts",
    "judge",
    "main",
    "numerator_selector",
    "parse_duration",
    "sli_metric",
    "wait_until_clean",
    "window_of",
]

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
ALERT = "ErrorBudgetBurnFast"
RUNS = 5
MIN_RUNS = 5
QUICK_RUNS = 2
RATE = 100.0  # requests per second at the edge
USERS = 300  # spread over the three DCs' cells, so no gateway's tenant bucket limits them
TENANT = "acme"
CLEAN_RATIO = 0.001  # the long window's error ratio that counts as clean (the threshold is 0.072)
STEADY_SHARE = 0.97  # the long window's traffic, as a share of RATE, that counts as full of load
FULL_OUTAGE_RATIO = 0.99  # the short window's peak error ratio that counts as a full outage
FIRE_WITHIN_S = 30.0
NOTIFY_WITHIN_S = 20.0
CLEAN_WAIT_S = 110.0  # one start: the long window (60 s) must drain of the previous run's errors
RUN_TIMEOUT_S = 200.0
# From the start, sandbox included: no run starts after it, nor when less than RUN_S is left;
# the runs done by then are reported. 5 runs take about 6 minutes (each waits ~60 s to start clean).
BUDGET_S = 450.0
RUN_S = 75.0  # what one run usually takes: the long window draining, then ~7 s of outage and probes
FAULT_TTL_S = 120
POLL_S = 0.5
HTTP_TIMEOUT_S = 5.0
DCS = ("dc1", "dc2", "dc3")
FIRES, NOTIFIED, CUT = "page-fires", "page-notified", "cut-every-replica-link"


# --- pure helpers ------------------------------------------------------------------------

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)"
_NAME = r"[A-Za-z_:][\w:]*"


def parse_duration(text: str) -> float:
    """A Prometheus duration (``1m``, ``5s``, ``900ms``, ``1h30m``) in seconds."""
    text = text.strip()
    if not re.fullmatch(f"(?:{_PART})+", text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(float(n) * _UNIT_S[unit] for n, unit in re.findall(_PART, text))


_CONDITION = re.compile(
    rf"({_NAME})\s*>\s*(?:on\s*\(\s*\)\s*)?\(\s*(\d+(?:\.\d+)?)\s*\*\s*({_NAME})\s*\)",
)


def burn_conditions(expr: str) -> list[tuple[str, float, str]]:
    """Each ``<ratio> > on() (<burn rate> * <budget>)`` term of a burn-rate alert, as
    ``(ratio series, burn rate, budget series)``, in the order they appear."""
    found = [(ratio, float(burn), budget) for ratio, burn, budget in _CONDITION.findall(expr)]
    if not found:
        raise ValueError(f"no `ratio > (burn * budget)` condition in {expr!r}")
    return found


def window_of(expr: str) -> float:
    """The range, in seconds, that every range selector of a recording rule uses."""
    ranges = {parse_duration(r) for r in re.findall(r"\[([^\]:]+)\]", expr)}
    if len(ranges) != 1:
        raise ValueError(f"expected one range in {expr!r}, found {sorted(ranges)}")
    return ranges.pop()


def numerator_selector(expr: str) -> str:
    """The selector of an error-ratio rule's numerator: ``sum(rate(X[W])) / ...`` -> ``X``."""
    match = re.search(r"rate\(\s*([^\[]+?)\s*\[", expr)
    if match is None:
        raise ValueError(f"no rate(...) in {expr!r}")
    return match.group(1)


def sli_metric(expr: str) -> str:
    """The metric name an error-ratio rule reads."""
    match = re.match(_NAME, numerator_selector(expr))
    if match is None:
        raise ValueError(f"no metric name in {expr!r}")
    return match.group(0)


def detection_bound(
    windows: list[tuple[float, float]],
    error_budget: float,
    scrape_s: float,
    evaluation_s: float,
    error_ratio: float = 1.0,
    hold_s: float = 0.0,
) -> dict[str, float]:
    """monitoring/README.md's bound on the time to detect a steady error ratio ``error_ratio``
    starting at t = 0: each (window W, burn rate B) condition holds once t = W x B x budget /
    error_ratio, the alert once all do; Prometheus adds one scrape and one evaluation, and the
    alert's ``for`` (``hold_s``, 0 for the sandbox's pages) if it has one."""
    if not windows or not 0 < error_ratio <= 1:
        raise ValueError("need at least one window and an error ratio in (0, 1]")
    crossing = max(w * b * error_budget / error_ratio for w, b in windows)
    return {
        "arithmetic_s": round(crossing, 4),
        "scrape_interval_s": scrape_s,
        "evaluation_interval_s": evaluation_s,
        "hold_s": hold_s,
        "bound_s": round(crossing + scrape_s + evaluation_s + hold_s, 4),
    }


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def journal_facts(journal: dict[str, Any]) -> dict[str, Any]:
    """What one run's journal says: its status, whether the steady state held, the probes'
    times, and the cut (the run's last fault, the one the probes time against)."""
    by_name = {str((r.get("activity") or {}).get("name")): r for r in journal.get("run") or []}
    before = (journal.get("steady_states") or {}).get("before") or {}
    fires = by_name.get(FIRES) or {}
    notified = by_name.get(NOTIFIED) or {}
    fired = fires.get("output") if fires.get("status") == "succeeded" else None
    told = notified.get("output") if notified.get("status") == "succeeded" else None
    faults = sorted(
        (journal.get("chaosdrill") or {}).get("faults") or [], key=lambda f: f.get("injected_at") or 0.0
    )
    cut = faults[-1] if faults else {}
    injected = cut.get("injected_at")
    cut_end = _epoch((by_name.get(CUT) or {}).get("end"))
    return {
        "status": journal.get("status"),
        "steady_state_met": bool(before.get("steady_state_met")),
        "time_to_detect_s": (fired or {}).get("time_to_detect_s"),
        "fired_at": (fired or {}).get("fired_at"),
        "fires_error": None if fired else _last_line(fires.get("exception")),
        "time_to_notify_s": (told or {}).get("time_to_notify_s"),
        "notified_after_firing_s": (told or {}).get("after_firing_s"),
        "notify_error": None if told else _last_line(notified.get("exception")),
        "fault": cut.get("description"),
        "injected_at": injected,
        "reverted_at": cut.get("reverted_at"),
        "cut_applied_s": None if cut_end is None or injected is None else round(cut_end - injected, 3),
        "faults_left_active": [f.get("description") for f in faults if not f.get("reverted_at")],
    }


def _last_line(exception: Any) -> str | None:
    if not exception:
        return None
    text = "".join(exception) if isinstance(exception, list) else str(exception)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][-400:] if lines else None


def judge(samples: list[dict[str, Any]], bound_s: float, min_runs: int) -> dict[str, Any]:
    """Median and max time to detect against the bound; a run counts only if it started
    clean, was a full outage and the page fired (any run that did not spoils the target)."""
    ttd = [s["time_to_detect_s"] for s in samples if isinstance(s.get("time_to_detect_s"), int | float)]
    ttn = [s["time_to_notify_s"] for s in samples if isinstance(s.get("time_to_notify_s"), int | float)]
    invalid = [i for i, s in enumerate(samples) if not s.get("valid")]
    median = round(statistics.median(ttd), 3) if ttd else None
    top = round(max(ttd), 3) if ttd else None
    return {
        "runs": len(samples),
        "time_to_detect_median_s": median,
        "time_to_detect_max_s": top,
        "time_to_detect_min_s": round(min(ttd), 3) if ttd else None,
        "runs_over_bound": sum(1 for t in ttd if t > bound_s),
        "time_to_notify_median_s": round(statistics.median(ttn), 3) if ttn else None,
        "time_to_notify_max_s": round(max(ttn), 3) if ttn else None,
        "invalid_runs": invalid,
        "pass": bool(
            len(samples) >= min_runs
            and not invalid
            and len(ttd) == len(samples)
            and median is not None
            and top is not None
            and median <= bound_s
            and top <= bound_s
        ),
    }


# --- Prometheus ---------------------------------------------------------------------------


def _api(base: str, path: str, **params: Any) -> Any:
    url = base.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
    with urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body.get('error') or body}")
    return body["data"]


def _value(base: str, query: str, at: float | None = None) -> float | None:
    """The value of a query that returns at most one series; None when it returns none."""
    params: dict[str, Any] = {"query": query}
    if at is not None:
        params["time"] = f"{at:.3f}"
    result = _api(base, "/api/v1/query", **params)["result"]
    if len(result) > 1:
        raise RuntimeError(f"{query} returned {len(result)} series, expected one")
    return float(result[0]["value"][1]) if result else None


def _firing(base: str, alert: str) -> bool:
    return bool(
        _api(base, "/api/v1/query", query=f'ALERTS{{alertname="{alert}",alertstate="firing"}}')["result"]
    )


def slo_inputs(base: str, alert: str) -> dict[str, Any]:
    """Everything the bound needs, as the running Prometheus has it."""
    groups = _api(base, "/api/v1/rules")["groups"]
    owner = next(
        (g for g in groups for r in g["rules"] if r.get("type") == "alerting" and r["name"] == alert), None
    )
    if owner is None:
        raise RuntimeError(f"Prometheus at {base} has no alerting rule {alert}")
    rule = next(r for r in owner["rules"] if r.get("type") == "alerting" and r["name"] == alert)
    records = {r["name"]: (r["query"], g) for g in groups for r in g["rules"] if r.get("type") == "recording"}
    conditions = []
    budgets = set()
    extra_groups: dict[str, float] = {}
    for ratio, burn, budget in burn_conditions(rule["query"]):
        if ratio not in records:
            raise RuntimeError(f"{alert} reads {ratio}, which no recording rule in {base} writes")
        query = records[ratio][0]
        conditions.append({"series": ratio, "burn_rate": burn, "window_s": window_of(query), "query": query})
        budgets.add(budget)
        for name in (ratio, budget):
            g = records.get(name, (None, owner))[1]
            if g["name"] != owner["name"]:
                # A rule in another group is evaluated on its own schedule: one more interval.
                extra_groups[g["name"]] = float(g["interval"])
    if len(budgets) != 1:
        raise RuntimeError(f"{alert} compares against several budgets: {sorted(budgets)}")
    budget_series = budgets.pop()
    error_budget = _value(base, budget_series)
    if error_budget is None or not 0 < error_budget < 1:
        raise RuntimeError(f"{budget_series} is {error_budget}, not a budget in (0, 1)")
    long = max(conditions, key=lambda c: c["window_s"])
    short = min(conditions, key=lambda c: c["window_s"])
    metric = sli_metric(long["query"])
    jobs = [
        s["metric"].get("job")
        for s in _api(base, "/api/v1/query", query=f"count by (job) ({metric})")["result"]
    ]
    if not jobs:
        raise RuntimeError(f"no series of {metric} in Prometheus at {base}: is the SLI scraped?")
    config = yaml.safe_load(_api(base, "/api/v1/status/config")["yaml"]) or {}
    default = (config.get("global") or {}).get("scrape_interval", "1m")
    by_job = {
        c.get("job_name"): c.get("scrape_interval", default) for c in config.get("scrape_configs") or []
    }
    scrape_s = max(parse_duration(str(by_job.get(job, default))) for job in jobs)
    evaluation_s = float(owner["interval"]) + sum(extra_groups.values())
    return {
        "alert": alert,
        "alert_expr": rule["query"],
        "alert_for_s": float(rule.get("duration") or 0.0),
        "conditions": conditions,
        "long_series": long["series"],
        "long_window_s": long["window_s"],
        "short_series": short["series"],
        "short_window_s": short["window_s"],
        "burn_rate": long["burn_rate"],
        "budget_series": budget_series,
        "error_budget": round(error_budget, 6),
        "objective": round(1.0 - error_budget, 6),
        "sli_metric": metric,
        "errors_selector": numerator_selector(long["query"]),
        "scrape_jobs": jobs,
        "scrape_interval_s": scrape_s,
        "rule_group": owner["name"],
        "evaluation_interval_s": evaluation_s,
        "groups_read_beside_the_alerts": extra_groups,
    }


def wait_until_clean(
    prometheus: str,
    alert: str,
    long_series: str,
    traffic: str,
    min_rps: float,
    clean_ratio: float = CLEAN_RATIO,
    timeout_s: float = CLEAN_WAIT_S,
) -> bool:
    """Steady-state probe (run inside ``chaos run``): wait, at most ``timeout_s``, until ``alert``
    is not firing, ``long_series`` (its long-window error ratio) is at most ``clean_ratio`` and
    ``traffic`` (the answers per second over the same window) is at least ``min_rps``. True once
    all hold; False at the deadline."""
    deadline = time.time() + timeout_s
    while True:
        try:
            ratio = _value(prometheus, long_series)
            rps = _value(prometheus, traffic)
            if (
                ratio is not None
                and ratio <= clean_ratio
                and rps is not None
                and rps >= min_rps
                and not _firing(prometheus, alert)
            ):
                return True
        except (OSError, ValueError, RuntimeError):
            pass  # not answering yet: keep looking until the deadline
        if time.time() >= deadline:
            return False
        time.sleep(POLL_S)


def _traffic(inputs: dict[str, Any]) -> str:
    """Answers per second over the alert's long window."""
    return f"sum(rate({inputs['sli_metric']}[{inputs['long_window_s']:g}s]))"


def _evidence(base: str, inputs: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """Prometheus's view of one run: was the start clean, the traffic steady, the outage full,
    and when were the first errors scraped."""
    injected, reverted, fired = facts.get("injected_at"), facts.get("reverted_at"), facts.get("fired_at")
    if not isinstance(injected, int | float):
        return {}
    out: dict[str, Any] = {}
    before = injected - 0.001
    out["long_ratio_before_fault"] = _value(base, inputs["long_series"], before)
    rps = _value(base, _traffic(inputs), before)
    out["traffic_rps_in_long_window"] = None if rps is None else round(rps, 1)
    if isinstance(reverted, int | float):
        span = max(1, math.ceil(reverted - injected))
        peak = _value(base, f"max_over_time({inputs['short_series']}[{span}s])", reverted)
        out["short_ratio_peak_during_outage"] = None if peak is None else round(peak, 4)
    if isinstance(fired, int | float):
        # Raw samples of the errors' counters, summed per scrape: the first scrape after the
        # fault whose sum grew is the first time Prometheus knew of the errors.
        span = math.ceil(fired - injected) + 3
        result = _api(
            base, "/api/v1/query", query=f"{inputs['errors_selector']}[{span}s]", time=f"{fired:.3f}"
        )["result"]
        totals: dict[float, float] = {}
        for series in result:
            for t, v in series["values"]:
                totals[float(t)] = totals.get(float(t), 0.0) + float(v)
        times = sorted(totals)
        base_value = next((totals[t] for t in reversed(times) if t <= injected), None)
        first = next(
            (t for t in times if t > injected and base_value is not None and totals[t] > base_value), None
        )
        out["errors_first_scraped_after_s"] = None if first is None else round(first - injected, 3)
        out["fired_after_first_errors_scraped_s"] = None if first is None else round(fired - first, 3)
    return out


# --- the experiment and its runs ------------------------------------------------------------


def _activity(kind: str, name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


def experiment(prometheus: str, inputs: dict[str, Any]) -> dict[str, Any]:
    alert = inputs["alert"]
    clean = _activity(
        "probe",
        "the-slo-window-is-clean",
        "benchmarks.time_to_detect",
        "wait_until_clean",
        prometheus=prometheus,
        alert=alert,
        long_series=inputs["long_series"],
        traffic=_traffic(inputs),
        min_rps=STEADY_SHARE * RATE,
        clean_ratio=CLEAN_RATIO,
        timeout_s=CLEAN_WAIT_S,
    )
    clean["tolerance"] = True
    method = [
        _activity(
            "action",
            f"defences-off-{dc}",
            "actions.defences",
            "disable_defences",
            dc=dc,
            breaker=True,
            fallback=True,
            ttl_s=FAULT_TTL_S,
        )
        for dc in DCS
    ]
    method.append(
        _activity(
            "action",
            CUT,
            "actions.network",
            "disable_links",
            dc="*",
            az="*",
            link="replicas",
            ttl_s=FAULT_TTL_S,
        )
    )
    method.append(
        _activity("probe", FIRES, "probes.alerts", "alert_fires_within", alert=alert, within_s=FIRE_WITHIN_S)
    )
    heal = [
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
    heal += [
        _activity("action", f"restore-defences-{dc}", "actions.defences", "restore_defences", dc=dc)
        for dc in DCS
    ]
    method += heal
    method.append(
        _activity(
            "probe",
            NOTIFIED,
            "probes.alerts",
            "notification_received_within",
            alert=alert,
            within_s=NOTIFY_WITHIN_S,
        )
    )
    return {
        "version": "1.0.0",
        "title": "A full outage: the fast-burn page must fire within the arithmetic's bound",
        "description": "Benchmark of the burn-rate alert's time to detect (benchmarks/time_to_detect.py).",
        "configuration": {"chaosdrill_target": "sandbox"},
        "controls": [
            {
                "name": "chaosdrill-ledger",
                "provider": {"type": "python", "module": "chaosdrill.controls.ledger"},
            }
        ],
        "steady-state-hypothesis": {
            "title": "the alert is not firing and its long window holds no errors",
            "probes": [clean],
        },
        "method": method,
        "rollbacks": heal,
    }


def _fail(message: str) -> None:
    print(json.dumps({"benchmark": "time_to_detect", "error": message}), flush=True)
    sys.exit(2)


def _chaosdrill(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chaosdrill"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _start_load(env: dict[str, str], edge: str, out: Path, duration_s: float) -> subprocess.Popen[bytes]:
    cmd = [
        str(BIN / "chaosdrill"),
        "load",
        "run",
        "--url",
        f"{edge}/v1/generate",
        "--rate",
        f"{RATE:g}",
        "--users",
        str(USERS),
        "--tenant",
        TENANT,
        "--priority",
        "interactive",
        "--duration",
        f"{duration_s:.0f}",
        "--quiet",
        "--json",
        "--out",
        str(out),
    ]
    out.mkdir(parents=True, exist_ok=True)
    # To files, not pipes: nobody reads them while the load runs, and a full pipe would stall it.
    with (out / "stdout.txt").open("wb") as stdout, (out / "stderr.txt").open("wb") as stderr:
        return subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr)


def _stop_load(proc: subprocess.Popen[bytes], out: Path) -> dict[str, Any]:
    """Stop the load (SIGINT: it stops its worker and prints its summary) and return its totals."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stdout = (out / "stdout.txt").read_text()
    try:
        rows = json.loads(stdout[stdout.index("{") :]).get("streams") or {}
    except ValueError:
        return {}
    row = rows.get("*") or next(iter(rows.values()), {})
    return {k: row.get(k) for k in ("sent", "ok", "degraded", "rejected", "error")}


def _one(
    path: Path, work: Path, env: dict[str, str], index: int, prom: str, inputs: dict[str, Any]
) -> dict[str, Any]:
    journal = work / f"journal-{index}.json"
    began = time.monotonic()
    proc = subprocess.run(
        [
            str(BIN / "chaos"),
            "--no-version-check",
            "run",
            "--hypothesis-strategy",
            "before-method-only",
            "--journal-path",
            str(journal),
            str(path),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    wall = time.monotonic() - began
    if not journal.exists():
        _fail(f"run {index}: no journal (exit {proc.returncode}): {proc.stderr[-1500:]}")
    facts = journal_facts(json.loads(journal.read_text()))
    facts["exit"] = proc.returncode
    facts["wall_s"] = round(wall, 2)
    facts.update(_evidence(prom, inputs, facts))
    before = facts.get("long_ratio_before_fault")
    peak = facts.get("short_ratio_peak_during_outage")
    rps = facts.get("traffic_rps_in_long_window")
    facts["clean_start"] = bool(
        facts["steady_state_met"]
        and before is not None
        and before <= CLEAN_RATIO
        and rps is not None
        and rps >= STEADY_SHARE * RATE
    )
    facts["full_outage"] = peak is not None and peak >= FULL_OUTAGE_RATIO
    facts["valid"] = bool(
        facts["clean_start"]
        and facts["full_outage"]
        and facts["time_to_detect_s"] is not None
        and not facts["faults_left_active"]
    )
    return facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs (not enough for the target)")
    args = parser.parse_args()
    runs = QUICK_RUNS if args.quick else max(args.runs, MIN_RUNS)
    result: dict[str, Any] = {
        "benchmark": "time_to_detect",
        "alert": ALERT,
        "load_rps": RATE,
        "min_runs": MIN_RUNS,
        "quick": bool(args.quick),
    }
    samples: list[dict[str, Any]] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaosdrill-bench-ttd-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, CHAOSDRILL_HOME=str(work / "home"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        for key in (
            "CHAOSDRILL_RUN_ID",
            "CHAOSDRILL_MEASUREMENTS",
            "CHAOSDRILL_RUN_DIR",
            "CHAOSDRILL_SYSTEM",
        ):
            env.pop(key, None)
        load: subprocess.Popen[bytes] | None = None
        try:
            up = _chaosdrill(env, "sandbox", "up", "--json")
            if up.returncode != 0:
                _fail(f"chaosdrill sandbox up failed ({up.returncode}): {up.stderr[-1500:]}")
            state = json.loads(up.stdout[up.stdout.index("{") :])
            prom = ((state.get("monitoring") or {}).get("prometheus")) or ""
            prom = prom.get("url", "") if isinstance(prom, dict) else prom
            if not prom:
                _fail("the sandbox started without monitoring: no Prometheus to measure")
            result["sandbox_up_s"] = round(time.monotonic() - began, 1)
            inputs = slo_inputs(prom, ALERT)
            windows = [(c["window_s"], c["burn_rate"]) for c in inputs["conditions"]]
            bound = detection_bound(
                windows,
                inputs["error_budget"],
                inputs["scrape_interval_s"],
                inputs["evaluation_interval_s"],
                hold_s=inputs["alert_for_s"],
            )
            result["inputs"] = inputs
            result.update(bound)
            load = _start_load(env, state["edge"], work / "load", BUDGET_S + 2 * RUN_TIMEOUT_S)
            # Every run, the first included, waits in its steady state until the long window is
            # full of load and free of errors.
            path = work / "time-to-detect.json"
            path.write_text(json.dumps(experiment(prom, inputs)))
            deadline = began + BUDGET_S
            while len(samples) < runs and time.monotonic() + RUN_S <= deadline:
                samples.append(_one(path, work, env, len(samples), prom, inputs))
                print(
                    f"time_to_detect: run {len(samples) - 1}: {json.dumps(samples[-1])}",
                    file=sys.stderr,
                    flush=True,
                )
                if load.poll() is not None:
                    log = (work / "load" / "stderr.txt").read_text()[-800:]
                    _fail(f"the load stopped early (exit {load.returncode}): {log}")
        finally:
            if load is not None:
                result["load_totals"] = _stop_load(load, work / "load")
            down = _chaosdrill(env, "sandbox", "down")
            if down.returncode != 0:
                print(f"chaosdrill sandbox down failed: {down.stderr[-800:]}", file=sys.stderr)
    result["took_s"] = round(time.monotonic() - began, 1)
    result.update(judge(samples, result["bound_s"], MIN_RUNS))
    result["samples"] = samples
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
