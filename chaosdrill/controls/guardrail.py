"""Control: abort the run and revert its faults as soon as the live error budget burns too fast.

A drill must never become the outage. While the experiment runs, a background thread
tails the load's ``measurements.jsonl`` (new lines only, every ~0.02 s) and computes the
error ratio over a short and a long window, counted exactly as ``probes.slo`` counts
it: errors / (ok + degraded + errors), with 429s left out (a rate limit is the service
keeping its promise). Both windows are anchored on a measurement window's end in the
data, not on the wall clock, so a slow poll cannot hide or invent a breach.

Judgment granularity: the guardrail judges once per measurement window as it lands (the
load writes 0.25 s windows by default, ``window_s`` in its profile), so a breach is seen
within a quarter of a second of the data showing it, not at the next whole second. A
judgment needs ``min_requests`` completed requests in its short window, or it is no
evidence either way: a sub-second window of a slow load never trips the guardrail on a
couple of errors. The windows already written when the guardrail is armed (the load's
warm-up) are history, judged once as a whole; every later window is judged on its own
arrival, in order, so a late poll still reports the first window that breached.

When both windows burn faster than ``burn_limit`` (``chaosdrill.slo.multiwindow_breach``),
the thread reverts every active fault of this run at once (``controls.ledger.sweep``,
recorded as ``how="guardrail"``), then stops the experiment with SIGUSR1, which
chaoslib turns into an interrupted run whose controls and sweep still run. What it did
lands in the journal under ``chaosdrill.guardrail``.

``breached_at`` is the end of the measurement window whose judgment first breached: the
moment the data showed the breach. ``breach_to_removed_s`` therefore
includes the window flush, the poll delay and the revert, and is an honest bound on how
long a breach ran on before its faults were gone.

Arguments (``provider.arguments``): ``slo`` (default 0.995), ``short_window_s`` (5),
``long_window_s`` (30), ``burn_limit`` (14.4: the Google SRE workbook's fast-burn page
threshold, at which 2% of a 30-day budget goes in one hour — far above anything a
healthy drill shows, far below a real outage), ``min_requests`` (20: fewer completed
requests in the short window of a judgment is no evidence), ``poll_s`` (0.02).

Declare it after the load control (it reads the path the load control publishes).
"""

import logging
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaosdrill import runctx
from chaosdrill import slo as slo_math
from chaosdrill.controls import ledger as ledger_control
from chaosdrill.controls.load import measurements_path
from chaosdrill.errors import BadInput
from chaosdrill.load.measurements import Window, WindowTail

__all__ = [
    "DEFAULT_BURN_LIMIT",
    "Breach",
    "Judge",
    "Judgment",
    "Settings",
    "Tail",
    "WindowCounts",
    "after_experiment_control",
    "before_experiment_control",
    "cleanup_control",
    "evaluate",
    "result",
]

DEFAULT_BURN_LIMIT = 14.4
log = logging.getLogger("chaosdrill.controls.guardrail")


@dataclass(frozen=True)
class Settings:
    slo: float = 0.995
    short_window_s: float = 5.0
    long_window_s: float = 30.0
    burn_limit: float = DEFAULT_BURN_LIMIT
    min_requests: int = 20
    poll_s: float = 0.02

    def check(self) -> None:
        src = "<experiment> controls[chaosdrill-guardrail].provider.arguments"
        if not 0.0 < self.slo < 1.0:
            raise BadInput(src, "slo", f"must be strictly between 0 and 1, got {self.slo}")
        if not 0.0 < self.short_window_s <= self.long_window_s:
            raise BadInput(src, "short_window_s", "must be > 0 and no longer than long_window_s")
        if self.burn_limit <= 0:
            raise BadInput(src, "burn_limit", f"must be > 0, got {self.burn_limit}")
        if self.poll_s <= 0:
            raise BadInput(src, "poll_s", f"must be > 0, got {self.poll_s}")
        if self.min_requests < 1:
            raise BadInput(src, "min_requests", f"must be >= 1, got {self.min_requests}")


@dataclass(frozen=True)
class WindowCounts:
    """One measurement window summed over its streams: what the guardrail judges by."""

    t0: float
    t1: float
    good: int
    errors: int


@dataclass(frozen=True)
class Breach:
    breached_at: float
    faults_removed_at: float
    breach_to_removed_s: float
    short_burn: float
    long_burn: float
    limit: float
    short_requests: int
    errors_began_at: float | None
    reverted: list[str]


def _counts(window: Window) -> WindowCounts:
    """A window's good (ok or degraded) and failed requests; rejections are neither."""
    good = sum(st.ok + st.degraded for st in window.streams.values())
    errors = sum(st.error for st in window.streams.values())
    return WindowCounts(window.t0, window.t1, good, errors)


class Tail:
    """The counts of the windows appended since the last call, read by the load's own reader."""

    def __init__(self, path: Path) -> None:
        self._windows = WindowTail(path)

    def new_windows(self) -> list[WindowCounts]:
        return [_counts(w) for w in self._windows.new_windows()]

    def close(self) -> None:
        self._windows.close()


def _ratio(windows: list[WindowCounts], since: float) -> tuple[float | None, int]:
    chosen = [w for w in windows if w.t1 > since]
    good = sum(w.good for w in chosen)
    errors = sum(w.errors for w in chosen)
    total = good + errors
    return (None if total == 0 else errors / total), total


def evaluate(windows: list[WindowCounts], settings: Settings) -> tuple[slo_math.BurnVerdict, int]:
    """The multi-window verdict over windows anchored on the newest one; and the short window's size."""
    if not windows:
        return slo_math.multiwindow_breach(None, None, settings.slo, settings.burn_limit), 0
    end = windows[-1].t1
    short, n_short = _ratio(windows, end - settings.short_window_s)
    long_, _ = _ratio(windows, end - settings.long_window_s)
    if n_short < settings.min_requests:
        short = None
    return slo_math.multiwindow_breach(short, long_, settings.slo, settings.burn_limit), n_short


@dataclass(frozen=True)
class Judgment:
    """One judgment: the verdict over the windows that end at ``at`` (a window's ``t1``)."""

    at: float
    verdict: slo_math.BurnVerdict
    short_requests: int


class Judge:
    """Judges the burn rate once per measurement window as windows land; pure (no I/O, no clock).

    The first batch fed is the history written before the guardrail was armed: it is judged
    once, at its newest window. After that each window is judged on its own, in order, and
    :meth:`feed` returns the first judgment that breached (or None). Windows older than the
    long window behind the newest are dropped, so memory stays flat over a long drill.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.windows: list[WindowCounts] = []
        self._primed = False

    def _add(self, window: WindowCounts) -> None:
        self.windows.append(window)
        horizon = window.t1 - self.settings.long_window_s
        if self.windows[0].t1 <= horizon:
            self.windows = [w for w in self.windows if w.t1 > horizon]

    def _judge(self) -> Judgment:
        verdict, n_short = evaluate(self.windows, self.settings)
        return Judgment(self.windows[-1].t1, verdict, n_short)

    def feed(self, fresh: list[WindowCounts]) -> Judgment | None:
        """Take the windows read since the last call; the first breaching judgment, if any."""
        if not fresh:
            return None
        if not self._primed:
            self._primed = True
            for w in fresh:
                self._add(w)
            judgment = self._judge()
            return judgment if judgment.verdict.breached else None
        for w in fresh:
            self._add(w)
            judgment = self._judge()
            if judgment.verdict.breached:
                return judgment
        return None


class _Watcher(threading.Thread):
    def __init__(self, path: Path, settings: Settings) -> None:
        super().__init__(name="chaosdrill-guardrail", daemon=True)
        self.tail = Tail(path)
        self.settings = settings
        self.stopping = threading.Event()
        self.breach: Breach | None = None
        self.error: str | None = None

    def run(self) -> None:
        judge = Judge(self.settings)
        try:
            while not self.stopping.wait(self.settings.poll_s):
                judgment = judge.feed(self.tail.new_windows())
                if judgment is not None:
                    self._trip(judge.windows, judgment)
                    return
        except Exception as e:  # a dead guardrail must be visible in the journal, not silent
            self.error = f"{type(e).__name__}: {e}"
            log.error("guardrail stopped watching: %s", self.error)
        finally:
            self.tail.close()

    def _trip(self, windows: list[WindowCounts], judgment: Judgment) -> None:
        verdict, n_short = judgment.verdict, judgment.short_requests
        breached_at = judgment.at
        log.error(
            "guardrail: error-budget burn %.1fx (short) / %.1fx (long) >= %.1fx; reverting this run's faults",
            verdict.short_burn or 0.0,
            verdict.long_burn or 0.0,
            verdict.limit,
        )
        swept = ledger_control.sweep("guardrail")
        removed_at = time.time()
        began = next((w.t0 for w in windows if w.errors and w.t1 <= breached_at), None)
        self.breach = Breach(
            breached_at=breached_at,
            faults_removed_at=removed_at,
            breach_to_removed_s=round(removed_at - breached_at, 3),
            short_burn=round(verdict.short_burn or 0.0, 2),
            long_burn=round(verdict.long_burn or 0.0, 2),
            limit=verdict.limit,
            short_requests=n_short,
            errors_began_at=began,
            reverted=list(swept.get("reverted", [])),
        )
        # After the method the run is ending anyway (and chaoslib's own closing steps do not
        # expect SystemExit): the faults are gone, which is what matters.
        if self.stopping.is_set() or runctx.phase() is runctx.Phase.AFTER:
            return
        log.error("guardrail: stopping the experiment")
        os.kill(os.getpid(), signal.SIGUSR1)


_watcher: _Watcher | None = None
_armed: dict[str, Any] = {}


def before_experiment_control(
    context: Any,
    slo: float = 0.995,
    short_window_s: float = 5.0,
    long_window_s: float = 30.0,
    burn_limit: float = DEFAULT_BURN_LIMIT,
    min_requests: int = 20,
    poll_s: float = 0.02,
    **_kwargs: Any,
) -> None:
    """Start watching the load's measurements (the load control must already have started)."""
    global _watcher
    _stop()
    _armed.clear()
    settings = Settings(
        float(slo),
        float(short_window_s),
        float(long_window_s),
        float(burn_limit),
        int(min_requests),
        float(poll_s),
    )
    settings.check()
    path = measurements_path()
    if path is None:
        _armed.update(
            armed=False, reason="no load measurements: declare the load control before the guardrail"
        )
        log.error("guardrail NOT armed: %s", _armed["reason"])
        return
    _armed.update(armed=True, measurements=str(path), settings=asdict(settings))
    _watcher = _Watcher(path, settings)
    _watcher.start()
    log.info(
        "guardrail armed: abort when %gs and %gs burn >= %gx of the %.3g%% SLO budget",
        settings.short_window_s,
        settings.long_window_s,
        settings.burn_limit,
        settings.slo * 100,
    )


def _stop() -> None:
    global _watcher
    if _watcher is not None:
        _watcher.stopping.set()
        if _watcher is not threading.current_thread():
            _watcher.join(timeout=10)
        _watcher = None


def result() -> dict[str, Any]:
    """What the guardrail did this run (for the journal): armed, and the breach if any."""
    out: dict[str, Any] = {**_armed, "breached": False}
    if _watcher is not None and _watcher.error:
        out["error"] = _watcher.error
    return out


def after_experiment_control(context: Any, state: Any = None, **_kwargs: Any) -> None:
    """Stop watching and record the guardrail's verdict under ``chaosdrill.guardrail``."""
    watcher = _watcher
    if watcher is not None:
        watcher.stopping.set()
        watcher.join(timeout=10)
    summary = result()
    if watcher is not None and watcher.breach is not None:
        summary.update(breached=True, **asdict(watcher.breach))
    _stop()
    if isinstance(state, dict):
        state.setdefault("chaosdrill", {})["guardrail"] = summary


def cleanup_control() -> None:
    _stop()
