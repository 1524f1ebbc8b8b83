"""What probes share to judge a system by its monitoring: the experiment's Prometheus and
Alertmanager clients and their typed results, driver failures turned into verdicts, and bounded waiting on the clock.

A probe's verdict is ``ActivityFailed``. A driver failure (nothing answers, a 5xx, a timeout)
becomes one, with its message, so the journal says what went wrong and where; bad input stays
``BadInput``, because it is the experiment that must change, not the system.

Fault-relative probes wait on the wall clock, since the ledger's fault times are wall-clock
times. Every wait is bounded in time and in the number of attempts.
"""

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from chaosdrill import promql
from chaosdrill.drivers.alertmanager import AlertmanagerAlert, AlertmanagerClient
from chaosdrill.drivers.http_endpoint import endpoint_from
from chaosdrill.drivers.notifications import (
    Notification,
    NotifiedAlert,
    notifications_file,
    read_notifications,
)
from chaosdrill.drivers.prometheus import PrometheusClient, Sample, Series
from chaosdrill.errors import ActivityFailed, BadInput, ChaosdrillError, TemporaryError
from chaosdrill.system import system_of

# The drivers' typed results, re-exported: probes read monitoring through this module only.
__all__ = [
    "SETTLE_S",
    "SKIPPED",
    "AlertmanagerAlert",
    "Notification",
    "NotifiedAlert",
    "PrometheusClient",
    "Sample",
    "Series",
    "alertmanager",
    "as_verdict",
    "count_between",
    "glob_regex",
    "is_true_at",
    "is_true_now",
    "json_number",
    "mechanism",
    "notifications_file",
    "optional_mechanism",
    "poll",
    "positive",
    "prometheus",
    "read_notifications",
    "steps",
    "time_until",
]

T = TypeVar("T")
SKIPPED = "before the method: no fault to judge yet"
# How long after a deadline the last look is taken, so that a sample scraped or a rule
# evaluated just before the deadline has been written when it is read.
SETTLE_S = 1.0


def prometheus(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> PrometheusClient:
    """The experiment's Prometheus (``configuration.chaosdrill_prometheus``)."""
    return PrometheusClient(endpoint_from(configuration, secrets, "prometheus"))


def alertmanager(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> AlertmanagerClient:
    """The experiment's Alertmanager (``configuration.chaosdrill_alertmanager``)."""
    return AlertmanagerClient(endpoint_from(configuration, secrets, "alertmanager"))


@contextmanager
def as_verdict() -> Iterator[None]:
    """Driver failures inside the block become ``ActivityFailed`` (bad input excepted)."""
    try:
        yield
    except (ActivityFailed, BadInput):
        raise
    except ChaosdrillError as e:
        raise ActivityFailed(str(e)) from e


def positive(field: str, value: float) -> float:
    """A probe's duration argument, checked."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        raise BadInput("<argument>", field, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def json_number(value: float) -> float | str:
    """A sample value for a probe's result: NaN and infinities as Prometheus writes them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def poll(deadline: float, interval_s: float, attempt: Callable[[], T | None]) -> T | None:
    """Call ``attempt`` until it returns a value or the wall clock passes ``deadline``; the last
    call is made at or after the deadline. A ``TemporaryError`` counts as "not yet", unless the
    last call raised it: then it becomes the verdict.

    Bounded: at most ``(deadline - now) / interval_s + 2`` calls.
    """
    calls = int(max(0.0, deadline - time.time()) / interval_s) + 2
    last_error: TemporaryError | None = None
    for _ in range(calls):
        try:
            found = attempt()
            last_error = None
        except TemporaryError as e:
            found, last_error = None, e
        if found is not None:
            return found
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        time.sleep(min(interval_s, remaining))
    if last_error is not None:
        raise ActivityFailed(str(last_error)) from last_error
    return None


def mechanism(name: str, configuration: Mapping[str, Any] | None, **labels: str) -> str | None:
    """The PromQL query of mechanism ``name`` filled with ``labels``, when the experiment's
    system file declares it and a Prometheus is known to ask; None otherwise (the probe then
    judges by the sandbox's own logs). On the sandbox the system file is the one it wrote of
    itself; on any other target a missing mechanism is bad input: there is nothing else to read."""
    system = system_of(configuration)
    declared = system.mechanism(name) if system is not None else None
    has_prometheus = (configuration or {}).get("chaosdrill_prometheus") is not None or (
        system is not None and system.prometheus is not None
    )
    if declared is not None and has_prometheus:
        return declared.render(**labels)
    if (configuration or {}).get("chaosdrill_target", "sandbox") != "sandbox":
        where = system.path if system is not None else "configuration.chaosdrill_system"
        missing = f"no {name} mechanism" if declared is None else "no prometheus to ask"
        raise BadInput(
            where, f"mechanisms.{name}", f"the system file has {missing}: this probe has nothing to judge by"
        )
    return None


def optional_mechanism(name: str, configuration: Mapping[str, Any] | None, **labels: str) -> str | None:
    """Like :func:`mechanism`, for a mechanism a probe can do without: None (never bad input)
    when the system file does not declare it or no Prometheus is known."""
    system = system_of(configuration)
    declared = system.mechanism(name) if system is not None else None
    has_prometheus = (configuration or {}).get("chaosdrill_prometheus") is not None or (
        system is not None and system.prometheus is not None
    )
    return declared.render(**labels) if declared is not None and has_prometheus else None


def glob_regex(pattern: str) -> str:
    """A shell glob (``dc1/*``) as the RE2 expression PromQL's ``=~`` matches whole."""
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "".join(out)


def time_until(
    query: str,
    start: float,
    within_s: float,
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    expect: bool = True,
    step_s: float = 0.5,
) -> float | None:
    """Seconds from ``start`` until ``query`` was ``expect`` (true: any series; false: none)
    in Prometheus, looking at most ``within_s`` past ``start``; None if it never was. Waits
    while that window is still open. Driver failures are verdicts (``ActivityFailed``)."""
    deadline = start + within_s
    step = promql.fitting_step(within_s, step_s)
    with prometheus(configuration, secrets) as prom, as_verdict():

        def attempt() -> float | None:
            end = max(start, min(time.time(), deadline))
            series = prom.query_range(query, start, end, step)
            if expect:
                return promql.first_true(series)
            wrong = promql.violations(list(series), start, end, step, True)
            return wrong[0] if wrong else None

        found = poll(deadline + SETTLE_S, min(max(step, 0.5), 5.0), attempt)
    return None if found is None else max(0.0, found - start)


def is_true_at(
    query: str, at: float, configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> bool:
    """Whether ``query`` returned any series at the instant ``at``."""
    with prometheus(configuration, secrets) as prom, as_verdict():
        return bool(prom.query(query, at=at).samples)


def is_true_now(
    query: str, configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> bool:
    """Whether ``query`` returns any series now."""
    with prometheus(configuration, secrets) as prom, as_verdict():
        return bool(prom.query(query).samples)


def steps(
    query: str,
    start: float,
    end: float,
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    step_s: float = 1.0,
) -> list[list[float]]:
    """``[[seconds since start, value], ...]`` of ``query`` from ``start`` to ``end``, one point
    where the value changes (and the first and last), summed over its series: a timeline for
    a report (replicas over time, say). Empty when the query has no data there."""
    if end <= start:
        return []
    step = promql.fitting_step(end - start, step_s)
    with prometheus(configuration, secrets) as prom, as_verdict():
        series = prom.query_range(query, start, end, step)
    totals: dict[float, float] = {}
    for one in series:
        for at, value in one.points:
            totals[at] = totals.get(at, 0.0) + value
    out: list[list[float]] = []
    times = sorted(totals)
    for i, at in enumerate(times):
        if not out or totals[at] != out[-1][1] or i == len(times) - 1:
            out.append([max(0.0, round(at - start, 3)), totals[at]])
    return out


def count_between(
    counter: str,
    start: float,
    end: float,
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
) -> float:
    """How much the counter selector ``counter`` (a series selector, summed over its series)
    rose from ``start`` to ``end``: PromQL's ``increase`` over that range, evaluated at ``end``
    (0 with no data)."""
    span = max(end - start, 1.0)
    with prometheus(configuration, secrets) as prom, as_verdict():
        result = prom.query(f"sum(increase({counter}[{int(span * 1000)}ms]))", at=end)
    return sum(s.value for s in result.samples if not math.isnan(s.value))
