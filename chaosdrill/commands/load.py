"""``chaosdrill load run|status|surge|stop``: open-model load outside an experiment.

The command only turns arguments into a :class:`~chaosdrill.load.profile.Profile` (and,
with ``--request-template``, :class:`~chaosdrill.load.template.Endpoints`), starts
the same worker process the load control uses, and shows what the worker reports; all
load logic lives in ``chaosdrill.load``. Arguments are validated by the profile parser,
and its field names are translated back into the flags the user typed.
"""

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from chaosdrill import paths
from chaosdrill.errors import BadInput, NotRunning
from chaosdrill.load import control
from chaosdrill.load import measurements as m
from chaosdrill.load.profile import Profile, load_profile, parse_profile, parse_stream_spec
from chaosdrill.load.template import Endpoints, load_endpoints

__all__ = ["build_endpoints", "build_profile", "register", "summary_rows"]

SOURCE = "<argument>"
REFRESH_S = 0.5

# Profile field -> the flag that sets it.
_FLAGS = {
    "url": "--url",
    "duration_s": "--duration",
    "timeout_s": "--timeout",
    "window_s": "--window",
    "max_in_flight": "--max-in-flight",
    "max_requests": "--max-requests",
    "streams": "--streams",
}
_SINGLE_STREAM_FLAGS = {
    "rate": "--rate",
    "users": "--users",
    "tenant": "--tenant",
    "priority": "--priority",
    "max_tokens": "--max-tokens",
}


def register(sub: Any) -> None:
    p = sub.add_parser("load", help="open-model load with live progress and a summary")
    lsub = p.add_subparsers(dest="load_command", required=True)

    run = lsub.add_parser("run", help="send load until --duration, then print a summary")
    run.add_argument(
        "--url", help="endpoint (default path /v1/generate); with --request-template, the base URL"
    )
    run.add_argument(
        "--request-template",
        type=Path,
        metavar="FILE",
        help="YAML/JSON endpoints (base_url, request templates, outcome rules), or a system file; "
        "without it the sandbox's request contract is sent",
    )
    run.add_argument("--rate", type=float, help="requests per second of the single default stream")
    run.add_argument("--duration", type=float, help="seconds to run")
    run.add_argument("--profile", type=Path, help="a YAML/JSON load profile; flags override its fields")
    run.add_argument(
        "--streams",
        nargs="+",
        metavar="NAME:TENANT:PRIORITY:RATE[:USERS[:MAX_TOKENS]]",
        help="several streams instead of --rate",
    )
    run.add_argument("--tenant", help="tenant of the --rate stream (default: default)")
    run.add_argument("--priority", choices=["interactive", "batch"], help="priority of the --rate stream")
    run.add_argument("--users", type=int, help="distinct user ids of the --rate stream")
    run.add_argument("--max-tokens", type=int, help="max_tokens of the --rate stream")
    run.add_argument("--timeout", type=float, help="per-request timeout, seconds from the scheduled time")
    run.add_argument("--window", type=float, help="measurement window, seconds (default 0.25)")
    run.add_argument("--max-in-flight", type=int, help="connections (and so requests) in flight at most")
    run.add_argument("--max-requests", type=int, help="stop after this many requests")
    run.add_argument(
        "--out", type=Path, help="output directory (default: a new one under the chaosdrill home)"
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.set_defaults(func=_run)

    status = lsub.add_parser("status", help="the running load's status, as JSON")
    status.set_defaults(func=_status)

    surge = lsub.add_parser("surge", help="multiply the running load's rate from now on")
    surge.add_argument("--factor", type=float, required=True, help="multiplier of the base rate (1 = back)")
    surge.add_argument("--stream", default="*", help="stream name or glob (default: all)")
    surge.set_defaults(func=_surge)

    stop = lsub.add_parser("stop", help="stop the running load (it flushes its last window)")
    stop.set_defaults(func=_stop)


def _renamed(e: BadInput, single: bool) -> BadInput:
    """The same error, naming the flag rather than the profile field."""
    if e.source != SOURCE:
        return e
    field = e.field
    match = re.fullmatch(r"streams\[(\d+)\]\.(\w+)", field)
    if match and single:
        flag = _SINGLE_STREAM_FLAGS.get(match.group(2), "--rate")
    elif match:
        flag = f"--streams (stream {int(match.group(1)) + 1}: {match.group(2)})"
    else:
        flag = _FLAGS.get(field, field)
    return BadInput(SOURCE, flag, e.problem)


def build_endpoints(args: argparse.Namespace) -> Endpoints | None:
    """The ``--request-template`` endpoints, aimed at ``--url`` if given."""
    if args.request_template is None:
        return None
    endpoints = load_endpoints(args.request_template)
    return endpoints if args.url is None else endpoints.with_base_url(args.url, SOURCE, "--url")


def build_profile(args: argparse.Namespace, endpoints: Endpoints | None = None) -> Profile:
    """The profile the flags describe (on top of ``--profile``, if given). With ``endpoints``
    the URL is their base URL (a ``--profile``'s own URL is not used)."""
    if args.rate is not None and (args.profile or args.streams):
        raise BadInput(SOURCE, "--rate", "give either --rate, or --streams/--profile, not both")
    data: dict[str, Any] = load_profile(args.profile).to_dict() if args.profile else {}
    overrides = {
        "url": args.url if endpoints is None else endpoints.base_url,
        "duration_s": args.duration,
        "timeout_s": args.timeout,
        "window_s": args.window,
        "max_in_flight": args.max_in_flight,
        "max_requests": args.max_requests,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    single = False
    if args.streams:
        data["streams"] = [parse_stream_spec(spec, SOURCE, "--streams") for spec in args.streams]
    elif not args.profile:
        if args.rate is None:
            raise BadInput(SOURCE, "--rate", "is required (or give --streams or --profile)")
        single = True
        stream = {
            "name": "default",
            "rate": args.rate,
            "tenant": args.tenant,
            "priority": args.priority,
            "users": args.users,
            "max_tokens": args.max_tokens,
        }
        data["streams"] = [{k: v for k, v in stream.items() if v is not None}]
    for flag, value in (("--url", "url"), ("--duration", "duration_s")):
        if value not in data:
            raise BadInput(SOURCE, flag, "is required (or give --profile)")
    try:
        return parse_profile(data, SOURCE)
    except BadInput as e:
        raise _renamed(e, single) from e


def _default_out() -> Path:
    return paths.home() / "load" / "runs" / time.strftime("%Y%m%d-%H%M%S")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def summary_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Per-stream totals (and ``*`` for all streams) from a measurements file."""
    windows = m.read_windows(path)
    names = sorted({n for w in windows for n in w.streams})
    rows = {name: m.aggregate(windows, streams=[name]).to_dict() for name in names}
    if len(names) > 1:
        rows["*"] = m.aggregate(windows).to_dict()
    return rows


def _summary_table(rows: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="load summary", caption=_error_caption(rows))
    for col in ("stream", "sent", "ok", "degr", "429", "err", "good %", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "stream" else "right")
    for name, r in rows.items():
        good = "-" if r["good_ratio"] is None else f"{r['good_ratio'] * 100:.2f}"
        table.add_row(
            "all" if name == "*" else name,
            str(r["sent"]),
            str(r["ok"]),
            str(r["degraded"]),
            str(r["rejected"]),
            str(r["error"]),
            good,
            _ms(r["p50_s"]),
            _ms(r["p95_s"]),
            _ms(r["p99_s"]),
        )
    return table


def _error_caption(rows: dict[str, dict[str, Any]]) -> str | None:
    lines = []
    for name, r in rows.items():
        if name != "*" and r["errors"]:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items()))
            lines.append(f"{name} errors: {reasons}")
        if name != "*" and (r["degraded_malformed"] or r["rejected_without_retry_after"]):
            lines.append(
                f"{name}: {r['degraded_malformed']} malformed degraded answers, "
                f"{r['rejected_without_retry_after']} 429s without Retry-After"
            )
    return "\n".join(lines) or None


def _progress_table(status: dict[str, Any]) -> Table:
    elapsed, duration = status.get("elapsed_s", 0.0), status.get("duration_s", 0.0)
    table = Table(
        title=f"load {status.get('state', '?')}: {elapsed:.0f}/{duration:.0f} s, "
        f"{status.get('in_flight', 0)} in flight, {status.get('queued', 0)} queued"
    )
    for col in ("stream", "rate/s", "sent", "ok", "degraded", "429", "errors"):
        table.add_column(col, justify="left" if col == "stream" else "right")
    for name, s in status.get("streams", {}).items():
        table.add_row(
            name,
            f"{s['target_rate']:g}",
            str(s["sent"]),
            str(s["ok"]),
            str(s["degraded"]),
            str(s["rejected"]),
            str(s["error"]),
        )
    return table


def _follow(handle: control.LoadHandle, console: Console, quiet: bool) -> None:
    if quiet:
        while not handle.wait(REFRESH_S):
            pass
        return
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        while not handle.wait(REFRESH_S):
            try:
                live.update(_progress_table(handle.status()))
            except NotRunning:
                continue  # finishing: it stops answering just before it exits


def _run(args: argparse.Namespace) -> int:
    endpoints = build_endpoints(args)
    profile = build_profile(args, endpoints)
    out = args.out or _default_out()
    console = Console()
    handle = control.start(profile, out, endpoints=endpoints)
    if not args.json:
        url = profile.url if endpoints is None else endpoints.base_url
        console.print(f"load: worker {handle.pid} -> {url}; measurements in {handle.measurements}")
    interrupted = False
    try:
        _follow(handle, console, args.quiet or args.json)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        handle.stop()
    rows = summary_rows(handle.measurements)
    if args.json:
        print(json.dumps({"measurements": str(handle.measurements), "streams": rows}, indent=2))
    else:
        console.print(_summary_table(rows))
    return 130 if interrupted else 0


def _running() -> control.LoadHandle:
    handle = control.current()
    if handle is None:
        raise NotRunning("no load is running; start one with `chaosdrill load run`")
    return handle


def _status(_args: argparse.Namespace) -> int:
    print(json.dumps(_running().status(), indent=2))
    return 0


def _surge(args: argparse.Namespace) -> int:
    print(json.dumps(_running().set_factor(args.stream, args.factor), indent=2))
    return 0


def _stop(_args: argparse.Namespace) -> int:
    handle = _running()
    handle.stop()
    print(f"load: worker {handle.pid} stopped; measurements in {handle.measurements}")
    return 0
