"""Negative controls name the probe that must fail: a control that deviates on another probe
(only on the SLO, say) is not the outcome it promised, and the drill sees that."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill.errors import BadInput
from chaosdrill.expectation import Status, expectation_of, failed_probes, outcome_of
from chaosdrill.validate import validate_experiment

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]


def _probe(name: str) -> dict[str, Any]:
    return {
        "type": "probe",
        "name": name,
        "tolerance": True,
        "provider": {"type": "python", "module": "probes.slo", "func": "availability_at_least"},
    }


def _experiment(expect: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "1.0.0",
        "title": "t",
        "description": "d",
        "steady-state-hypothesis": {"title": "h", "probes": [_probe("breaker-opened"), _probe("slo")]},
        "method": [_probe("in-method")],
        "extensions": [{"name": "chaosdrill", "expect": expect}],
    }


def _entry(name: str, status: str = "succeeded", tolerance_met: bool | None = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"activity": _probe(name), "status": status}
    if tolerance_met is not None:
        entry["tolerance_met"] = tolerance_met
    return entry


def _journal(
    expect: dict[str, Any], after: list[dict[str, Any]], run: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    return {
        "experiment": _experiment(expect),
        "status": "completed",
        "deviated": True,
        "steady_states": {"before": {"steady_state_met": True, "probes": []}, "after": {"probes": after}},
        "run": list(run),
    }


CONTROL = {"status": "deviated", "failing_probes": ["breaker-opened"]}


def test_expectation_reads_failing_probes() -> None:
    expectation = expectation_of(_experiment(CONTROL), "x.yaml")
    assert expectation.status is Status.DEVIATED
    assert expectation.failing_probes == ("breaker-opened",)
    assert expectation_of(_experiment({"status": "deviated"}), "x.yaml").failing_probes == ()


@pytest.mark.parametrize(
    ("expect", "field", "problem"),
    [
        ({"status": "deviated", "failing_probes": ["nope"]}, "failing_probes[0]", "not a probe"),
        ({"status": "completed", "failing_probes": ["slo"]}, "failing_probes", "only a 'deviated'"),
        ({"status": "deviated", "failing_probes": []}, "failing_probes", "non-empty"),
        ({"status": "deviated", "failing_probes": "slo"}, "failing_probes", "non-empty"),
        ({"status": "deviated-elsewhere"}, "expect.status", "not one of"),
    ],
)
def test_bad_failing_probes_name_the_field(expect: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(BadInput) as err:
        expectation_of(_experiment(expect), "x.yaml")
    assert err.value.source == "x.yaml"
    assert err.value.field.endswith(field)
    assert problem in err.value.problem


def test_failed_probes_reads_the_after_hypothesis_and_the_method() -> None:
    journal = _journal(
        CONTROL,
        after=[_entry("breaker-opened", tolerance_met=False)],
        run=(
            _entry("in-method", status="failed", tolerance_met=None),
            {"activity": {"type": "action", "name": "a"}, "status": "failed"},
        ),
    )
    assert failed_probes(journal) == ["breaker-opened", "in-method"]
    # a raised probe (status failed) counts like one out of tolerance
    assert failed_probes(_journal(CONTROL, after=[_entry("slo", status="failed", tolerance_met=False)])) == [
        "slo"
    ]
    # before-the-method failures are not deviations
    journal = _journal(CONTROL, after=[])
    journal["steady_states"]["before"]["probes"] = [_entry("slo", tolerance_met=False)]
    assert failed_probes(journal) == []


def test_a_control_that_fails_on_its_probe_is_deviated() -> None:
    journal = _journal(CONTROL, after=[_entry("breaker-opened", status="failed", tolerance_met=False)])
    assert outcome_of(journal) is Status.DEVIATED
    assert outcome_of(journal) is expectation_of(journal["experiment"], "j").status


def test_a_control_that_fails_only_on_the_slo_is_not_what_it_promised() -> None:
    journal = _journal(CONTROL, after=[_entry("breaker-opened"), _entry("slo", tolerance_met=False)])
    assert outcome_of(journal) is Status.DEVIATED_ELSEWHERE
    assert outcome_of(journal) is not expectation_of(journal["experiment"], "j").status


def test_without_failing_probes_any_deviation_counts() -> None:
    journal = _journal({"status": "deviated"}, after=[_entry("slo", tolerance_met=False)])
    assert outcome_of(journal) is Status.DEVIATED


def test_chaoslib_never_writes_the_elsewhere_status() -> None:
    assert outcome_of({"status": "deviated-elsewhere", "deviated": False}) is Status.FAILED


SANDBOX = sorted((REPO / "experiments").rglob("*.yaml"))


@pytest.mark.parametrize("path", SANDBOX, ids=lambda p: p.name)
def test_every_deviating_control_names_probes_that_exist(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    validate_experiment(data, str(path), run_chaoslib=False)
    expectation = expectation_of(data, str(path))
    if "negative-control" in (data.get("tags") or []) and expectation.status is Status.DEVIATED:
        assert expectation.failing_probes, f"{path.name}: a negative control must name its mechanism probe"


def _first_probe_module(data: dict[str, Any]) -> str:
    first = data["steady-state-hypothesis"]["probes"][0]
    return str(first["provider"]["module"])


def test_make_drill_has_a_control_failing_on_each_defence_family() -> None:
    """One deviating control per family in the sandbox plan's folder (the five defences, and
    the RPO bound of a DC loss), each naming its own
    mechanism probe, listed first (chaoslib stops the hypothesis at its first failure)."""
    families: dict[str, str] = {}
    for path in sorted((REPO / "experiments" / "sandbox").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        expectation = expectation_of(data, str(path))
        if not expectation.failing_probes:
            continue
        probes = {p["name"]: p for p in data["steady-state-hypothesis"]["probes"]}
        (name,) = expectation.failing_probes
        assert data["steady-state-hypothesis"]["probes"][0]["name"] == name, path.name
        families[str(probes[name]["provider"]["module"])] = path.name
        assert _first_probe_module(data) != "probes.slo"
    assert set(families) == {
        "probes.breaker",
        "probes.fallback",
        "probes.ratelimit",
        "probes.autoscaling",
        "probes.failover",
        "probes.recovery_objectives",  # the RPO bound, under 2 s of replication lag (issue 12)
    }, families
