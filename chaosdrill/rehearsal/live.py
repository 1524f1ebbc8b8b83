"""What a rehearsal watches while it runs: the live SLO from the load, and the runbook's alerts.

The SLO is read from the running load's own ``measurements.jsonl`` (the windows the probes
and the guardrail read), over the last ``window_s`` seconds of data: the good ratio
(ok + degraded over every completed request but 429s, as ``probes.slo`` counts it) and the
p99 latency. The alerts are the runbook's triggers as Alertmanager holds them; the first one
whose start is at or after the fault is the time to detect.
"""

import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosdrill import telemetry
from chaosdrill.errors import BadInput, ChaosdrillError
from chaosdrill.load.measurements import Window, WindowTail, aggregate

__all__ = ["AlertWatch", "FiredAlert", "LiveSlo", "SloNow"]

log = logging.getLogger("chaosdrill.rehearsal")


@dataclass(frozen=True)
class SloNow:
    good_ratio: float | None
    p99_s: float | None
    completed: int
    window_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "good_ratio": self.good_ratio,
            "p99_s": self.p99_s,
            "completed": self.completed,
            "window_s": self.window_s,
        }


class LiveSlo:
    """The SLO over the newest ``window_s`` seconds of the load's measurements."""

    def __init__(self, path: Path | None, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._tail = WindowTail(path) if path is not None else None
        self._windows: list[Window] = []

    def now(self) -> SloNow:
        if self._tail is not None:
            self._windows.extend(self._tail.new_windows())
        if not self._windows:
            return SloNow(None, None, 0, self.window_s)
        since = self._windows[-1].t1 - self.window_s
        self._windows = [w for w in self._windows if w.t1 > since]
        summary = aggregate(self._windows)
        judged = summary.good + summary.error  # 429s are neither good nor bad
        return SloNow(
            good_ratio=summary.good / judged if judged else None,
            p99_s=summary.percentile(99),
            completed=judged,
            window_s=self.window_s,
        )

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()


@dataclass(frozen=True)
class FiredAlert:
    name: str
    labels: Mapping[str, str]
    starts_at: float


class AlertWatch(threading.Thread):
    """Polls Alertmanager once a second for the runbook's triggers; bounded by :meth:`stop`."""

    def __init__(
        self, configuration: Mapping[str, Any], triggers: Collection[str], poll_s: float = 1.0
    ) -> None:
        super().__init__(name="chaosdrill-rehearsal-alerts", daemon=True)
        self.triggers = set(triggers)
        self.poll_s = poll_s
        self.fault_at: float | None = None
        self.first: FiredAlert | None = None
        self.error: str | None = None
        self._stopping = threading.Event()
        try:
            self._client: Any = telemetry.alertmanager(configuration, None)
        except BadInput:
            self._client = None  # no Alertmanager known: the on-call's "detected" is the time

    @property
    def available(self) -> bool:
        return self._client is not None

    def run(self) -> None:
        if self._client is None:
            return
        try:
            while not self._stopping.wait(self.poll_s) and self.first is None:
                self._look()
            if self.first is None:
                self._look()  # one last look: an alert may have fired since the last poll
        finally:
            self._client.close()

    def _look(self) -> None:
        if self.fault_at is None:
            return
        try:
            alerts = self._client.alerts()
        except ChaosdrillError as e:  # keep watching: Alertmanager may be restarting
            self.error = str(e)
            return
        fired = [
            a
            for a in alerts
            if a.name in self.triggers and a.starts_at is not None and a.starts_at >= self.fault_at
        ]
        if fired:
            best = min(fired, key=lambda a: a.starts_at or 0.0)
            self.first = FiredAlert(best.name, dict(best.labels), float(best.starts_at or 0.0))
            log.info("rehearsal: %s fired (%s)", best.name, best.labels)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)
