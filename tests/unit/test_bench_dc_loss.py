"""Figure 9 (user-visible RTO and RPO of a DC loss): its experiment is a valid one, the
journal's probe outputs are read back, and its row says no, and why, when a target is missed."""

from typing import Any

import pytest
from bench_support import load_benchmark

from chaosdrill.validate import validate_experiment

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

run = load_benchmark("run")
dc_loss = load_benchmark("dc_loss")


def test_the_experiment_is_valid_and_measures_with_loose_bounds() -> None:
    doc = dc_loss.experiment()
    validate_experiment(doc, "dc_loss", require_expectation=False)
    probes = {p["name"]: p["provider"] for p in doc["steady-state-hypothesis"]["probes"]}
    assert probes["rto"]["module"] == "probes.recovery_objectives"
    assert probes["rto"]["arguments"]["max_rto_s"] >= dc_loss.OUTAGE_S
    streams = doc["controls"][1]["provider"]["arguments"]["profile"]["streams"]
    assert any(s.get("session") for s in streams)


def test_probe_outputs_are_read_from_the_after_hypothesis() -> None:
    journal = {
        "steady_states": {
            "after": {
                "probes": [
                    {"activity": {"name": "rto"}, "status": "succeeded", "output": {"rto_s": 1.5}},
                    {
                        "activity": {"name": "rpo"},
                        "status": "failed",
                        "exception": ["ActivityFailed: no session"],
                    },
                ]
            }
        }
    }
    out = dc_loss.probe_outputs(journal)
    assert out["rto"] == {"rto_s": 1.5}
    assert out["rpo"] == {"error": ["ActivityFailed: no session"]}


def _result(rto: float, rpo: float, ok: bool, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    sample = {"rto_s": rto, "rpo_s": rpo, "rpo_writes": 3, "errors": errors or {}, "faults_left_active": []}
    return {
        "runs": 5,
        "outage_s": 10,
        "rto_limit_s": 5.0,
        "rpo_limit_s": 1.0,
        "seed_promise_s": 300.0,
        "rto_median_s": rto,
        "rto_max_s": rto,
        "rpo_median_s": rpo,
        "rpo_writes_median": 3,
        "rpo_writes_max": 3,
        "samples": [sample] * 5,
        "pass": ok,
    }


def test_rows_say_met_missed_with_why_and_pending() -> None:
    (met,) = run.rows_dc_loss(_result(2.0, 0.2, True))
    assert met.met == "yes" and met.why_missed == "" and "RTO median 2.00 s" in met.ours
    (missed,) = run.rows_dc_loss(_result(7.5, 0.2, False))
    assert missed.met == "no" and "median RTO 7.50 s" in missed.why_missed
    (pending,) = run.rows_dc_loss({"pending": "no sessions"})
    assert pending.met == "pending" and "no sessions" in pending.how
    assert any(b.name == "dc_loss" and b.optional for b in run.BENCHES)
