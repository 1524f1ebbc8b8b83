"""Render the shipped rule files for one Prometheus, with this drill's objective and threshold.

The rules keep their knobs as recorded constants (``vector(0.995)``) rather than numbers
spread through the alert expressions, so the shipped files stay valid Prometheus rules that
``promtool`` can test as they are, and rendering changes exactly one expression per knob.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaosdrill.errors import BadInput

__all__ = ["LATENCY_THRESHOLD_RECORD", "OBJECTIVE_RECORD", "SEED_SLO_TARGET", "RuleParams", "render_rules"]

OBJECTIVE_RECORD = "chaosdrill:slo_objective:ratio"
LATENCY_THRESHOLD_RECORD = "chaosdrill:latency_p99_threshold:seconds"
SEED_SLO_TARGET = 0.9995  # the seed article's 99.95%; the sandbox experiments judge by 99.5%


@dataclass(frozen=True)
class RuleParams:
    """The knobs of the shipped rules."""

    slo_target: float = 0.995
    latency_p99_threshold_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.slo_target < 1.0:
            raise BadInput("<rule parameters>", "slo_target", f"must be in (0, 1), got {self.slo_target}")
        if not (math.isfinite(self.latency_p99_threshold_s) and self.latency_p99_threshold_s > 0):
            raise BadInput(
                "<rule parameters>",
                "latency_p99_threshold_s",
                f"must be a positive number of seconds, got {self.latency_p99_threshold_s}",
            )

    def constants(self) -> dict[str, str]:
        return {
            OBJECTIVE_RECORD: f"vector({self.slo_target!r})",
            LATENCY_THRESHOLD_RECORD: f"vector({self.latency_p99_threshold_s!r})",
        }


def _rules_of(doc: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise BadInput(source, "groups", "a rule file must be a mapping with a list of groups")
    found: list[dict[str, Any]] = []
    for i, group in enumerate(doc["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise BadInput(source, f"groups[{i}].rules", "must be a list of rules")
        found += [r for r in group["rules"] if isinstance(r, dict)]
    return found


def render_rules(source: Path, dest: Path, params: RuleParams) -> list[Path]:
    """Copy every ``source/*.yml`` rule file into ``dest`` with the constants set from ``params``.

    Each constant must be recorded exactly once across the files: a missing one would leave
    its alerts silently comparing against nothing.
    """
    constants = params.constants()
    seen: dict[str, int] = dict.fromkeys(constants, 0)
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.yml"):
        stale.unlink()
    written = []
    for path in sorted(source.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in _rules_of(doc, str(path)):
            record = rule.get("record")
            if record in constants:
                rule["expr"] = constants[record]
                seen[record] += 1
        out = dest / path.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False, width=200), encoding="utf-8")
        written.append(out)
    for record, count in seen.items():
        if count != 1:
            raise BadInput(
                str(source), record, f"must be recorded exactly once in the rule files, found {count}"
            )
    return written
