"""Charts of one run, as inline SVG: the timeline (latency percentiles and outcomes per
window, faults shaded, mechanism moments marked) and each mechanism's replicas over time.

The picture answers the question a drill is for at a glance: did latency and errors move
when the fault went in, and did they come back after the rollback? Charts are drawn with
matplotlib's SVG canvas (no pyplot global state) and pasted into the page as ``<svg>``
elements: text stays text (the browser's own sans-serif font), and the markup carries no
XML prologue, metadata or namespace URLs, so the report needs no network, no JavaScript
and no display. Data-bearing artists get a ``gid`` (``series-*``, ``bars-*``, ``replicas``):
the browser check finds them by it and asserts they were drawn.
"""

import io
import re
from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from chaosdrill.report.model import ExperimentResult, FaultRecord

__all__ = ["replicas_svg", "timeline_svg"]

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


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element to inline into HTML (no prologue, metadata, xmlns)."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "font.family": "sans-serif"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    # Inline SVG in HTML needs no namespace declarations; dropping them keeps URLs out of the page.
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text, count=0)


def _origin(result: ExperimentResult) -> float:
    if result.started is not None:
        return result.started
    return result.windows[0].t0 if result.windows else 0.0


def timeline_svg(result: ExperimentResult) -> str | None:
    """A two-panel SVG (latency, outcomes) for ``result``, or None when it has no windows."""
    if not result.windows:
        return None
    origin = _origin(result)
    mids = [((w.t0 + w.t1) / 2) - origin for w in result.windows]
    widths = [max(w.t1 - w.t0, 1e-3) * 0.9 for w in result.windows]
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    FigureCanvasSVG(fig)
    lat, out = fig.subplots(2, 1, sharex=True)
    for label, values, style in (
        ("p50", [w.p50_ms for w in result.windows], "-"),
        ("p95", [w.p95_ms for w in result.windows], "--"),
        ("p99", [w.p99_ms for w in result.windows], ":"),
    ):
        (line,) = lat.plot(
            mids, [float("nan") if v is None else v for v in values], style, marker=".", label=label
        )
        line.set_gid(f"series-{label}")
    lat.set_ylabel("latency (ms)")
    lat.set_title(f"{result.name}: latency and outcomes per window", loc="left")
    bottom = [0.0] * len(result.windows)
    for outcome, colour in _OUTCOME_COLOURS.items():
        heights = [float(getattr(w, outcome)) for w in result.windows]
        out.bar(mids, heights, widths, bottom=bottom, color=colour, label=outcome, gid=f"bars-{outcome}")
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
        for i, (label, moment) in enumerate(_moments(result, origin)):
            axis.axvline(moment, color="#6a1b9a", lw=1, ls="-.", label="mechanism moment" if i == 0 else None)
            if axis is lat:
                axis.annotate(
                    label,
                    (moment, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize="x-small",
                    color="#6a1b9a",
                )
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return _svg(fig)


def _moments(result: ExperimentResult, origin: float) -> list[tuple[str, float]]:
    """Moments (``*_at`` keys) the mechanism probes reported, as seconds since ``origin``."""
    return [
        (f"{e.mechanism} {key.removesuffix('_at').replace('_', ' ')}", at - origin)
        for e in result.evidence
        for key, at in e.moments
    ]


def replicas_svg(points: Sequence[tuple[float, float]], origin: float | None, title: str) -> str | None:
    """A small step chart of ready replicas over time, or None with fewer than one point.

    ``t`` values that look like epoch seconds are drawn as seconds since ``origin`` (the
    experiment's start); smaller ones are the probe's own, seconds since the fault (or the
    revert) it timed, and drawn as they are.
    """
    if not points:
        return None
    epoch = origin is not None and points[0][0] > 1e9
    xs = [t - origin if origin is not None and epoch else t for t, _ in points]
    ys = [n for _, n in points]
    fig = Figure(figsize=(4.2, 1.8), layout="constrained")
    FigureCanvasSVG(fig)
    axis = fig.subplots()
    (line,) = axis.step(xs, ys, where="post", color="#1565c0", marker=".", lw=1.5)
    line.set_gid("replicas")
    axis.set_ylim(bottom=0, top=max(ys) * 1.15 + 0.5)
    # relative times are the probe's own: seconds since the fault (or its revert) it timed
    axis.set_xlabel("s since the start" if epoch else "s since the fault event", fontsize="small")
    axis.set_ylabel("ready", fontsize="small")
    axis.set_title(title, loc="left", fontsize="small")
    axis.tick_params(labelsize="x-small")
    axis.grid(True, alpha=0.3)
    return _svg(fig)
