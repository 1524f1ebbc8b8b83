"""PromQL probes that judge any system by the Prometheus its team already trusts: a value
within bounds now, an expression that became true within T of the fault, and one that held
(or stayed false) through the fault window.

"True" means the expression returned at least one series: PromQL comparisons filter, so
``sum(rate(errors[1m])) > 0.01`` is empty while the condition does not hold. The fault's
times come from this run's ledger, and Prometheus' range queries look back over them, so a
probe can judge a fault that is already over. Prometheus is ``configuration.chaosdrill_prometheus``,
else the system file's ``prometheus`` (on the sandbox, the file it wrote of itself).
"""

import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence, promql, telemetry
from chaosdrill.errors import BadInput, ChaosdrillError
from chaosdrill.telemetry import PrometheusClient, Sample

__all__ = ["becomes_true_within", "holds_through_fault", "value_within"]

MAX_LISTED = 5


def _seen(samples: list[Sample]) -> str:
    shown = ", ".join(f"{promql.describe(s.labels)}={s.value:g}" for s in samples[:MAX_LISTED])
    more = len(samples) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def value_within(
    query: str,
    low: float | None = None,
    high: float | None = None,
    allow_empty: bool = False,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that ``query``'s value now lies within ``[low, high]`` (inclusive; give one bound or
    both). With several series, every one must; an empty result fails unless ``allow_empty``."""
    bounds = promql.Bounds(low, high)
    with telemetry.prometheus(configuration, secrets) as prom, telemetry.as_verdict():
        result = prom.query(query)
    if result.result_type not in ("vector", "scalar"):
        raise BadInput(
            "<argument>", "query", f"{query!r} gives a {result.result_type}, not a number per series"
        )
    samples = list(result.samples)
    values = [{"labels": s.labels, "value": telemetry.json_number(s.value)} for s in samples]
    if not samples:
        if allow_empty:
            return {"ok": True, "query": query, "values": [], "empty": True}
        raise ActivityFailed(
            f"{query!r} returned no series from Prometheus at {prom.url}; expected a value {bounds}"
        )
    outside = bounds.outside(samples)
    if outside:
        raise ActivityFailed(
            f"{query!r} at {prom.url}: {len(outside)} of {len(samples)} series not {bounds}: {_seen(outside)}"
        )
    return {"ok": True, "query": query, "low": low, "high": high, "values": values}


def _first_true_after_deadline(prom: PrometheusClient, query: str, deadline: float, step_s: float) -> str:
    """For a failure message: when the expression did become true, if it did after the deadline."""
    now = time.time()
    if now <= deadline:
        return ""
    try:
        step = promql.fitting_step(now - deadline, step_s)
        found = promql.first_true(prom.query_range(query, deadline, now, step))
    except ChaosdrillError:  # only a hint for the message; the verdict stands without it
        return ""
    return "" if found is None else f" (it became true {found - deadline:.2f}s after that deadline)"


def becomes_true_within(
    query: str,
    within_s: float,
    fault_kind: str | None = None,
    step_s: float = 1.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that ``query`` became true (returned any series) within ``within_s`` seconds of the
    latest fault's injection, and was not true already when it was injected. Returns the time it
    took, ``became_true_after_s``, to a resolution of ``step_s``. Waits while the window is open."""
    if evidence.before_method():
        return {"ok": True, "skipped": telemetry.SKIPPED}
    within = telemetry.positive("within_s", within_s)
    step = promql.fitting_step(within, telemetry.positive("step_s", step_s))
    anchor = evidence.fault_anchor(fault_kind)
    start, deadline = anchor.injected_at, anchor.injected_at + within

    with telemetry.prometheus(configuration, secrets) as prom, telemetry.as_verdict():

        def attempt() -> float | None:
            end = max(start, min(time.time(), deadline))
            return promql.first_true(prom.query_range(query, start, end, step))

        became_true = telemetry.poll(deadline + telemetry.SETTLE_S, min(max(step, 0.5), 5.0), attempt)
        if became_true is None:
            later = _first_true_after_deadline(prom, query, deadline, step)
            raise ActivityFailed(
                f"{query!r} did not become true within {within:g}s of the fault ({anchor.description}) "
                f"in Prometheus at {prom.url}{later}"
            )
    if promql.ms(became_true) == promql.ms(start):
        raise ActivityFailed(
            f"{query!r} was already true when the fault ({anchor.description}) was injected, so the "
            "time it took to become true cannot be measured"
        )
    return {
        "ok": True,
        "query": query,
        "fault": anchor.description,
        "became_true_after_s": round(became_true - start, 3),
        "within_s": within,
        "resolution_s": step,
    }


def holds_through_fault(
    query: str,
    expect: bool = True,
    step_s: float = 1.0,
    fault_kind: str | None = None,
    grace_s: float = 0.0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that ``query`` was true (``expect: true``: a result at every step) or false (no
    result at any step) through the latest fault's window: from its injection (plus ``grace_s``)
    to its revert, or to now while it is active. Checked every ``step_s`` seconds."""
    if evidence.before_method():
        return {"ok": True, "skipped": telemetry.SKIPPED}
    if grace_s < 0:
        raise BadInput("<argument>", "grace_s", f"must be >= 0, got {grace_s!r}")
    wanted_step = telemetry.positive("step_s", step_s)
    anchor = evidence.fault_anchor(fault_kind)
    start = anchor.injected_at + grace_s
    end = anchor.reverted_at if anchor.reverted_at is not None else time.time()
    if end < start:
        raise ActivityFailed(
            f"the fault ({anchor.description}) lasted {end - anchor.injected_at:.2f}s, less than "
            f"grace_s={grace_s:g}: there is no window to judge {query!r} over"
        )
    step = promql.fitting_step(end - start, wanted_step)
    with telemetry.prometheus(configuration, secrets) as prom, telemetry.as_verdict():
        series = prom.query_range(query, start, end, step)
    points = len(promql.step_times(start, end, step))
    wrong = promql.violations(list(series), start, end, step, expect)
    state, opposite = ("true", "false") if expect else ("false", "true")
    if wrong:
        raise ActivityFailed(
            f"{query!r} was {opposite} at {len(wrong)} of {points} points through the fault "
            f"({anchor.description}), first {max(0.0, wrong[0] - anchor.injected_at):.2f}s after injection; "
            f"expected {state} throughout (Prometheus at {prom.url})"
        )
    return {
        "ok": True,
        "query": query,
        "expect": expect,
        "fault": anchor.description,
        "window_s": round(end - start, 3),
        "points": points,
        "resolution_s": step,
    }
