"""Guardrails by default: the drill adds the guardrail after the load control unless the
experiment declares it or opts out with a reason; every shipped sandbox experiment is covered."""

from pathlib import Path
from typing import Any

import pytest

from chaosdrill.drills.guard import GUARDRAIL_CONTROL, LOAD_CONTROL, GuardPolicy, guard_policy_of, guarded
from chaosdrill.drills.plan import load_experiment
from chaosdrill.errors import BadInput
from chaosdrill.validate import validate_experiment

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
FIELD = "extensions[name=chaosdrill].guardrail"


def _experiment(guardrail: Any = None, controls: list[str] = ("ledger", "load")) -> dict[str, Any]:  # type: ignore[assignment]
    ext: dict[str, Any] = {"name": "chaosdrill", "expect": {"status": "completed"}}
    if guardrail is not None:
        ext["guardrail"] = guardrail
    modules = {"ledger": "chaosdrill.controls.ledger", "load": LOAD_CONTROL, "guardrail": GUARDRAIL_CONTROL}
    return {
        "title": "t",
        "extensions": [ext],
        "controls": [{"name": c, "provider": {"type": "python", "module": modules[c]}} for c in controls],
        "method": [],
    }


def _modules(doc: dict[str, Any]) -> list[str]:
    return [c["provider"]["module"] for c in doc.get("controls", [])]


def test_added_after_the_load_control_and_input_untouched() -> None:
    original = _experiment()
    doc, guard = guarded(original, guard_policy_of(original, "e.yaml"))
    assert _modules(doc) == ["chaosdrill.controls.ledger", LOAD_CONTROL, GUARDRAIL_CONTROL]
    assert guard.guarded and guard.how == "added by the drill"
    assert _modules(original) == ["chaosdrill.controls.ledger", LOAD_CONTROL]
    assert "arguments" not in doc["controls"][2]["provider"]  # the guardrail's own defaults


def test_tuned_by_the_extension() -> None:
    exp = _experiment({"burn_limit": 40, "min_requests": 50, "reason": "drives errors on purpose"})
    doc, guard = guarded(exp, guard_policy_of(exp, "e.yaml"))
    assert doc["controls"][2]["provider"]["arguments"] == {"burn_limit": 40.0, "min_requests": 50}
    assert guard.guarded and "tuned" in guard.how and guard.reason == "drives errors on purpose"


def test_opt_out_with_reason() -> None:
    exp = _experiment({"enabled": False, "reason": "a negative control"})
    doc, guard = guarded(exp, guard_policy_of(exp, "e.yaml"))
    assert GUARDRAIL_CONTROL not in _modules(doc)
    assert not guard.guarded and guard.reason == "a negative control"


def test_declared_guardrail_is_kept_as_written() -> None:
    exp = _experiment(controls=["ledger", "load", "guardrail"])
    doc, guard = guarded(exp, guard_policy_of(exp, "e.yaml"))
    assert _modules(doc).count(GUARDRAIL_CONTROL) == 1 and guard.how == "declared by the experiment"


def test_no_load_means_unguarded_and_said_so() -> None:
    exp = _experiment(controls=["ledger"])
    doc, guard = guarded(exp, GuardPolicy())
    assert GUARDRAIL_CONTROL not in _modules(doc)
    assert not guard.guarded and "no load control" in guard.reason


@pytest.mark.parametrize(
    ("guardrail", "field", "problem"),
    [
        ({"enabled": False}, f"{FIELD}.reason", "must say why"),
        ({"enabled": False, "reason": "  "}, f"{FIELD}.reason", "must say why"),
        ({"enabled": "no", "reason": "x"}, f"{FIELD}.enabled", "expected true or false"),
        ({"burn_limit": -1}, f"{FIELD}.burn_limit", "must be > 0"),
        ({"burn_limit": "high"}, f"{FIELD}.burn_limit", "expected a number"),
        ({"min_requests": 2.5}, f"{FIELD}.min_requests", "whole number"),
        ({"slo": 1.0}, f"{FIELD}.slo", "strictly between 0 and 1"),
        ({"colour": 1}, f"{FIELD}.colour", "unknown key"),
        ({"enabled": False, "reason": "x", "burn_limit": 3}, FIELD, "tunes a guardrail it disables"),
        ("off", FIELD, "expected a mapping"),
    ],
)
def test_bad_guardrail_extension_names_file_and_field(guardrail: Any, field: str, problem: str) -> None:
    with pytest.raises(BadInput) as info:
        guard_policy_of(_experiment(guardrail), "experiments/x.yaml")
    assert info.value.source == "experiments/x.yaml"
    assert info.value.field == field
    assert problem in info.value.problem


def test_opting_out_of_a_declared_guardrail_is_contradictory() -> None:
    exp = _experiment({"enabled": False, "reason": "x"}, controls=["ledger", "load", "guardrail"])
    with pytest.raises(BadInput) as info:
        guard_policy_of(exp, "e.yaml")
    assert info.value.field == f"{FIELD}.enabled"


def test_schema_accepts_the_extension_and_refuses_an_opt_out_without_reason() -> None:
    base = load_experiment(REPO / "experiments" / "sandbox" / "az-outage.yaml")
    ok = {
        **base,
        "extensions": [
            {"name": "chaosdrill", "expect": {"status": "completed"}, "guardrail": {"burn_limit": 30}}
        ],
    }
    validate_experiment(ok, "ok.yaml")
    bad = {
        **base,
        "extensions": [
            {"name": "chaosdrill", "expect": {"status": "completed"}, "guardrail": {"enabled": False}}
        ],
    }
    with pytest.raises(BadInput):
        validate_experiment(bad, "bad.yaml")


@pytest.mark.parametrize(
    "path", sorted((REPO / "experiments" / "sandbox").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_sandbox_experiment_runs_guarded_or_says_why(path: Path) -> None:
    exp = load_experiment(path)
    doc, guard = guarded(exp, guard_policy_of(exp, str(path)))
    validate_experiment(doc, str(path))  # what the drill runs is still a valid experiment
    if guard.guarded:
        modules = _modules(doc)
        assert modules.index(GUARDRAIL_CONTROL) > modules.index(LOAD_CONTROL)
    else:
        assert guard.how == "opted out" and len(guard.reason) > 20
