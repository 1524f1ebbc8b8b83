"""``chaosdrill preflight EXPERIMENT [--json]``: what a run would touch, without touching it.

Exit 0: every action resolves and stays inside the blast radius. Exit 1: some action would
be refused or fail at run time (outside ``chaosdrill_allow_dcs``, over
``chaosdrill_max_percentage``, a selector that matches nothing): a finding about the drill
as configured against this target, reported before it costs a run. Exit 2: the experiment
is malformed or the target is not running.
"""

import argparse
import json
from pathlib import Path
from typing import Any

from chaosdrill.preflight import Preflight, run_preflight

__all__ = ["register", "render"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "preflight", help="show what an experiment would touch and check its blast radius; touch nothing"
    )
    p.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    p.add_argument("--json", action="store_true", help="the plan as JSON on stdout")
    p.set_defaults(func=_preflight)


def render(plan: Preflight) -> str:
    """The plan as text, one block per activity."""
    limits = [f"max {plan.max_percentage:g}% per action"]
    if plan.max_concurrent_faults is not None:
        limits.append(f"at most {plan.max_concurrent_faults} faults active at once")
    limits.append(f"DCs {plan.allow_dcs}" if plan.allow_dcs is not None else "any DC")
    if plan.allow_namespaces is not None:
        limits.append(f"namespaces {plan.allow_namespaces}")
    lines = [
        f"preflight: {plan.title} ({plan.source})",
        f"  target {plan.target}; blast radius: {', '.join(limits)}",
    ]
    for t in plan.activities:
        shown = ", ".join(f"{k}={v!r}" for k, v in t.arguments.items())
        lines.append(f"  {t.where} {t.kind} {t.name}: {t.activity}({shown})")
        lines.extend(f"      {line}" for line in t.touches)
        if t.note:
            lines.append(f"      ({t.note})")
        lines.extend(f"      PROBLEM: {p}" for p in t.problems)
    problems = plan.problems
    verdict = "ok" if not problems else f"{len(problems)} problem(s): the run would be refused or fail"
    lines.append(f"preflight: {len(plan.activities)} activities, {verdict}; nothing was touched")
    return "\n".join(lines)


def _preflight(args: argparse.Namespace) -> int:
    plan = run_preflight(args.experiment)
    print(json.dumps(plan.to_dict(), indent=2, sort_keys=True) if args.json else render(plan))
    return 1 if plan.problems else 0
