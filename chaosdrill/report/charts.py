"""Timeline charts of one run: latency percentiles and outcomes per window, faults shaded.

The picture answers the question a drill is for at a glance: did latency and errors move
when the fault went in, and did they come back after the rollback? Charts are rendered
on matplotlib's Agg canvas (no pyplot global state) to PNG bytes, so the HTML report embeds them and needs no
network, no JavaScript and no display.
"""

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from chaosdrill.report.model import ExperimentResult, FaultRecord

__all__ = ["timeline_png"]

_OUTCOME_COLOURS = {"ok": "#2e7d32", "degraded": "#f9a825", "rejected": "#1565c0", "error": "#c62828"}
_FAULT_COLOUR = "#e53935"
_MIN_SPAN_S = 0.5  # an instant action still gets a visible band


def _spans(actions: Sequence[FaultRecord], origin: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for action in actions:
        if action.start is None:
            continue
        start = action.start - origin
        end = (action.end if action.end is not None else action.start) - origin
        out.append((start, max(end, start + _MIN_SPAN_S)))
    return out


def _fault_periods(result: ExperimentResult, origin: float) -> list[tuple[float, float]]:
    """When faults were live: from the ledger's records if it kept them, otherwise from the
    first method action to the end of the last rollback."""
    recorded = [(f.injected_at, f.reverted_at) for f in result.ledger_faults]
    if recorded and all(start is not None for start, _ in recorded):
        last = result.windows[-1].t1 if result.windows else origin
        return [(s - origin, (e if e is not None else last) - origin) for s, e in recorded if s is not None]
    starts = [a.start for a in result.faults if a.start is not None]
    ends = [a.end for a in result.rollbacks if a.end is not None]
    if not starts or not ends or max(ends) <= min(starts):
        return []
    return [(min(starts) - origin, max(ends) - origin)]


def timeline_png(result: ExperimentResult) -> bytes | None:
    """A two-panel PNG (latency, outcomes) for ``result``, or None when it has no windows."""
    if not result.windows:
        return None
    origin = result.started if result.started is not None else result.windows[0].t0
    mids = [((w.t0 + w.t1) / 2) - origin for w in result.windows]
    widths = [max(w.t1 - w.t0, 1e-3) * 0.9 for w in result.windows]
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    lat, out = fig.subplots(2, 1, sharex=True)
    for label, values, style in (
        ("p50", [w.p50_ms for w in result.windows], "-"),
        ("p95", [w.p95_ms for w in result.windows], "--"),
        ("p99", [w.p99_ms for w in result.windows], ":"),
    ):
        lat.plot(mids, [float("nan") if v is None else v for v in values], style, marker=".", label=label)
    lat.set_ylabel("latency (ms)")
    lat.set_title(f"{result.name}: latency and outcomes per window", loc="left")
    bottom = [0.0] * len(result.windows)
    for outcome, colour in _OUTCOME_COLOURS.items():
        heights = [float(getattr(w, outcome)) for w in result.windows]
        out.bar(mids, heights, widths, bottom=bottom, color=colour, label=outcome)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    out.set_ylabel("requests / window")
    out.set_xlabel("seconds since the experiment started")
    periods = _fault_periods(result, origin)
    for axis in (lat, out):
        for i, (start, end) in enumerate(periods):
            axis.axvspan(
                start, end, color=_FAULT_COLOUR, alpha=0.08, lw=0, label="faults live" if i == 0 else None
            )
        for i, (start, end) in enumerate(_spans(result.faults, origin)):
            axis.axvspan(
                start, end, color=_FAULT_COLOUR, alpha=0.25, lw=0, label="method action" if i == 0 else None
            )
        for i, (start, end) in enumerate(_spans(result.rollbacks, origin)):
            axis.axvspan(start, end, color="#757575", alpha=0.25, lw=0, label="rollback" if i == 0 else None)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
