"""Alert probes: an alert fired within T of the fault (time to detect), resolved within T of its
rollback (time to resolve), and a notification reached the webhook within T (time to notify).
Each returns the time it measured, for the report.

Firing and resolving are read from Prometheus, not from Alertmanager. Prometheus decides when an
alert fires and writes that decision as a sample of its ``ALERTS`` series at the evaluation that
made it, so the time to detect is exact to the rule evaluation and can still be read after the
alert has resolved. Alertmanager hears of an alert only once Prometheus sends it, drops it once
it resolves, and its ``startsAt`` is Prometheus' firing time anyway. What Alertmanager adds,
getting the news to people, is judged where it lands: the notifications a webhook receiver
recorded (``configuration.chaosdrill_notifications``, JSON lines of
``{"received_at": unix seconds, "payload": <webhook body>}``). When that fails and
``configuration.chaosdrill_alertmanager`` is set, Alertmanager is asked why for the message.
"""

import time

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosdrill import evidence, promql, telemetry
from chaosdrill.errors import BadInput, ChaosdrillError
from chaosdrill.telemetry import (
    AlertmanagerAlert,
    Notification,
    NotifiedAlert,
    PrometheusClient,
    Series,
    notifications_file,
    read_notifications,
)

__all__ = ["alert_fires_within", "alert_resolves_within", "notification_received_within"]

POLL_S = 0.5
FILE_POLL_S = 0.25


def _name(alert: str, labels: dict[str, str] | None) -> str:
    return alert + (promql.describe(labels) if labels else "")


def _samples_since(prom: PrometheusClient, selector: str, since: float, until: float) -> tuple[Series, ...]:
    """The raw samples of ``selector`` in ``(since, until]``, as series."""
    window_ms = max(1, promql.ms(until) - promql.ms(since))
    return prom.query(f"{selector}[{window_ms}ms]", at=until).series


def _pending_hint(prom: PrometheusClient, alert: str, labels: dict[str, str] | None, since: float) -> str:
    """For a failure message: whether the alert was at least pending (its ``for`` not yet over)."""
    try:
        pending = promql.first_point_after(
            _samples_since(prom, promql.alerts_selector(alert, labels, "pending"), since, time.time()), since
        )
    except ChaosdrillError:
        return ""
    if pending is None:
        return "; it was not even pending"
    return f"; it went pending {pending - since:.2f}s after the fault, so its `for` had not run out"


def alert_fires_within(
    alert: str,
    within_s: float,
    labels: dict[str, str] | None = None,
    fault_kind: str | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that the alert named ``alert`` (with ``labels``, if given) fired within ``within_s``
    seconds of the latest fault's injection, and was not firing already. Returns its time to
    detect, ``time_to_detect_s``: from the injection to the evaluation that fired it."""
    if evidence.before_method():
        return {"ok": True, "skipped": telemetry.SKIPPED}
    within = telemetry.positive("within_s", within_s)
    selector = promql.alerts_selector(alert, labels)
    anchor = evidence.fault_anchor(fault_kind)
    start, deadline = anchor.injected_at, anchor.injected_at + within
    name = _name(alert, labels)

    with telemetry.prometheus(configuration, secrets) as prom, telemetry.as_verdict():
        if prom.query(selector, at=start).samples:
            raise ActivityFailed(
                f"alert {name} was already firing when the fault ({anchor.description}) was injected, "
                "so its time to detect cannot be measured"
            )

        def attempt() -> float | None:
            end = min(time.time(), deadline)
            if promql.ms(end) <= promql.ms(start):
                return None
            return promql.first_point_after(_samples_since(prom, selector, start, end), start)

        fired_at = telemetry.poll(deadline + telemetry.SETTLE_S, POLL_S, attempt)
        if fired_at is None:
            raise ActivityFailed(
                f"alert {name} did not fire within {within:g}s of the fault ({anchor.description}) "
                f"in Prometheus at {prom.url}{_pending_hint(prom, alert, labels, start)}"
            )
    return {
        "ok": True,
        "alert": name,
        "fault": anchor.description,
        "time_to_detect_s": round(fired_at - start, 3),
        "fired_at": fired_at,
        "within_s": within,
    }


def _evaluation_interval(prom: PrometheusClient, alert: str) -> float | None:
    """How often Prometheus evaluates the rule ``alert`` (its group's interval), if it has it."""
    intervals = [g.interval_s for g in prom.rule_groups("alert") for r in g.rules if r.name == alert]
    return max(intervals) if intervals else None


def alert_resolves_within(
    alert: str,
    within_s: float,
    labels: dict[str, str] | None = None,
    fault_kind: str | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that the alert ``alert`` (with ``labels``), which fired since the latest fault, was no
    longer firing ``within_s`` seconds after the fault's rollback. Returns ``time_to_resolve_s``:
    from the rollback to the rule evaluation that resolved it (0 if it resolved before)."""
    if evidence.before_method():
        return {"ok": True, "skipped": telemetry.SKIPPED}
    within = telemetry.positive("within_s", within_s)
    selector = promql.alerts_selector(alert, labels)
    anchor = evidence.fault_anchor(fault_kind)
    name = _name(alert, labels)
    if anchor.reverted_at is None:
        raise ActivityFailed(
            f"the fault ({anchor.description}) is still active; roll it back before this probe"
        )
    rolled_back = anchor.reverted_at
    deadline = rolled_back + within

    with telemetry.prometheus(configuration, secrets) as prom, telemetry.as_verdict():
        if promql.last_true(_samples_since(prom, selector, anchor.injected_at, time.time())) is None:
            raise ActivityFailed(
                f"alert {name} never fired since the fault ({anchor.description}), so it cannot have "
                f"resolved (Prometheus at {prom.url})"
            )
        # The evaluation that resolves an alert writes no sample, only a staleness marker, so it is
        # found as the evaluation after the last one that still fired.
        interval = _evaluation_interval(prom, alert)

        def attempt() -> float | None:
            end = min(time.time(), deadline)
            if prom.query(selector, at=end).samples:
                return None  # still firing
            last = promql.last_true(_samples_since(prom, selector, anchor.injected_at, end))
            return (last if last is not None else anchor.injected_at) + (interval or 0.0)

        resolved_at = telemetry.poll(deadline + telemetry.SETTLE_S, POLL_S, attempt)
        if resolved_at is None:
            raise ActivityFailed(
                f"alert {name} was still firing {within:g}s after the fault ({anchor.description}) was "
                f"rolled back (Prometheus at {prom.url})"
            )
    return {
        "ok": True,
        "alert": name,
        "fault": anchor.description,
        "time_to_resolve_s": round(max(0.0, resolved_at - rolled_back), 3),
        "within_s": within,
        "evaluation_interval_s": interval,
    }


def _alertmanager_hint(
    configuration: Configuration | None, secrets: Secrets | None, alert: str, labels: dict[str, str]
) -> str:
    """For a failure message: what Alertmanager holds of the alert, if the experiment names one."""
    if not (configuration or {}).get("chaosdrill_alertmanager"):
        return ""
    try:
        with telemetry.alertmanager(configuration, secrets) as am:
            held: list[AlertmanagerAlert] = [
                a
                for a in am.alerts()
                if a.name == alert and all(a.labels.get(k) == v for k, v in labels.items())
            ]
            url = am.url
    except ChaosdrillError as e:
        return f"; Alertmanager could not be asked: {e}"
    if not held:
        return f"; Alertmanager at {url} does not hold it (did Prometheus send it there?)"
    a = held[0]
    why = (
        f"silenced by {', '.join(a.silenced_by)}"
        if a.silenced_by
        else f"inhibited by {', '.join(a.inhibited_by)}"
        if a.inhibited_by
        else f"routed to {', '.join(a.receivers) or 'no receiver'}"
    )
    return f"; Alertmanager at {url} holds it ({a.state}, {why})"


def notification_received_within(
    alert: str,
    within_s: float,
    status: str = "firing",
    labels: dict[str, str] | None = None,
    path: str | None = None,
    fault_kind: str | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Assert that a webhook notification with the alert ``alert`` (and ``labels``) in ``status``
    (``firing`` or ``resolved``) was received within ``within_s`` seconds of the latest fault's
    injection (firing) or rollback (resolved). Notifications are read from ``path``, else from
    ``configuration.chaosdrill_notifications``. Returns the time to notify, ``time_to_notify_s``,
    and how long after Prometheus fired (``after_firing_s``) or resolved (``after_resolving_s``) it came."""
    if evidence.before_method():
        return {"ok": True, "skipped": telemetry.SKIPPED}
    if status not in ("firing", "resolved"):
        raise BadInput("<argument>", "status", f"must be firing or resolved, got {status!r}")
    within = telemetry.positive("within_s", within_s)
    file = notifications_file(path, configuration)
    wanted = dict(labels or {})
    anchor = evidence.fault_anchor(fault_kind)
    name = _name(alert, labels)
    if status == "firing":
        since, event = anchor.injected_at, "injection"
    elif anchor.reverted_at is None:
        raise ActivityFailed(
            f"the fault ({anchor.description}) is still active; roll it back before this probe"
        )
    else:
        since, event = anchor.reverted_at, "rollback"
    deadline = since + within

    def caused_by_fault(a: NotifiedAlert) -> bool:
        # A firing alert that started before the injection was not caused by this fault.
        return status != "firing" or a.starts_at is None or a.starts_at >= anchor.injected_at

    def attempt() -> tuple[Notification, NotifiedAlert] | None:
        for n in read_notifications(file, since=since):
            for a in n.alerts:
                if a.matches(alert, wanted) and a.status == status and caused_by_fault(a):
                    return n, a
        return None

    found = telemetry.poll(deadline + telemetry.SETTLE_S, FILE_POLL_S, attempt)
    if found is None or found[0].received_at > deadline:
        seen = (
            "none arrived"
            if found is None
            else f"it arrived {found[0].received_at - since:.2f}s after the {event}"
        )
        raise ActivityFailed(
            f"no {status} notification of alert {name} was received within {within:g}s of the fault's "
            f"{event} ({anchor.description}) in {file}: {seen}"
            f"{_alertmanager_hint(configuration, secrets, alert, wanted) if found is None else ''}"
        )
    notification, notified = found
    result: dict = {
        "ok": True,
        "alert": name,
        "status": status,
        "fault": anchor.description,
        "time_to_notify_s": round(notification.received_at - since, 3),
        "receiver": notification.receiver,
        "within_s": within,
    }
    if status == "firing" and notified.starts_at is not None:
        result["after_firing_s"] = round(notification.received_at - notified.starts_at, 3)
    if status == "resolved" and notified.ends_at is not None:
        result["after_resolving_s"] = round(notification.received_at - notified.ends_at, 3)
    return result
