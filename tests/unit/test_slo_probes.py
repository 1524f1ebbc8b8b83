"""probes.slo's baseline and budget probes, called directly on a real ledger and a real
measurements file (written by the load's own Recorder, in simulated time; no network).

The run context is what the controls would export: a run id, the phase, the measurements
path, and a ledger under this test's CHAOSDRILL_HOME.
"""

import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosdrill import paths, runctx
from chaosdrill.ledger import Fault, Ledger
from chaosdrill.load.outcome import ErrorReason, Outcome, Verdict
from chaosdrill.load.recorder import Recorder, StreamInfo
from probes import slo

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

T0 = 3_000_000.0
RUN = "run-under-test"
INJECTED = T0 + 3.1  # the quarter second [3.0, 3.25) straddles it
REVERTED = T0 + 9.0
OK = Verdict(Outcome.OK)
ERR = Verdict(Outcome.ERROR, ErrorReason.S503)


@pytest.fixture()
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(runctx.RUN_ID_ENV, RUN)
    monkeypatch.setenv(runctx.PHASE_ENV, runctx.Phase.AFTER.value)
    path = tmp_path / "measurements.jsonl"
    monkeypatch.setenv(runctx.MEASUREMENTS_ENV, str(path))
    return path


def _fault(at: float = INJECTED, reverted: float | None = REVERTED, run_id: str = RUN) -> None:
    ledger = Ledger(paths.ledger_file())
    fault = ledger.record(Fault("latency", "sandbox", "k", "a test fault", {}, run_id=run_id, at=at))
    if reverted is not None:
        # mark_reverted stamps the wall clock; the test's times are simulated, so the revert
        # record is appended as the ledger writes it, with the test's time.
        with ledger.path.open("a") as fh:
            fh.write(json.dumps({"op": "reverted", "id": fault.id, "at": reverted, "how": "rollback"}) + "\n")


def _load(
    path: Path, *, fault_ms: float = 100.0, fault_error_every: int = 0, seconds: float = 12.0, rate: int = 100
) -> None:
    """``rate`` requests/s; 100 ms each before the fault, ``fault_ms`` during it (and every
    ``fault_error_every``-th an error), 100 ms again after the revert."""
    rec = Recorder(
        path,
        [StreamInfo("chat", "acme", "interactive")],
        window_s=0.25,
        start=T0,
        meta={},
        target_rates=lambda: [float(rate)],
    )
    for i in range(int(seconds * rate)):
        now = T0 + i / rate
        during = INJECTED <= now < REVERTED
        ms = fault_ms if during else 100.0
        verdict = ERR if during and fault_error_every and i % fault_error_every == 0 else OK
        rec.record(0, verdict, ms / 1000, now)
    rec.close(T0 + seconds)


def test_before_the_method_they_pass_as_skipped(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runctx.PHASE_ENV, runctx.Phase.BEFORE.value)
    _load(run)  # no fault yet
    assert slo.good_ratio_drop_at_most()["skipped"]
    assert slo.latency_rise_at_most(max_rise_ms=10)["skipped"]


def test_after_the_method_with_no_fault_they_fail(run: Path) -> None:
    _load(run)
    _fault(run_id="another-run")  # another run's fault is not this run's
    with pytest.raises(ActivityFailed, match="no fault was injected"):
        slo.good_ratio_drop_at_most()
    with pytest.raises(ActivityFailed, match="no fault was injected"):
        slo.latency_rise_at_most(max_rise_ms=10)


def test_the_baseline_is_the_windows_wholly_before_the_first_fault(run: Path) -> None:
    _load(run)
    _fault()
    out = slo.good_ratio_drop_at_most()
    assert out["baseline"]["t0"] == pytest.approx(T0)
    assert out["baseline"]["t1"] == pytest.approx(T0 + 3.0)  # not the straddling quarter second
    assert out["baseline"]["requests"] == 300
    assert out["observed"]["t0"] == pytest.approx(T0 + 3.0)  # that window's midpoint is in the fault
    assert out["observed"]["t1"] == pytest.approx(REVERTED)
    # baseline_s keeps only the windows wholly within its last seconds: [2.1, 3.1] holds
    # the quarter seconds from 2.25 to 3.0.
    short = slo.good_ratio_drop_at_most(baseline_s=1.0)["baseline"]
    assert (short["t0"] - T0, short["t1"] - T0, short["requests"]) == (2.25, 3.0, 75)


def test_the_baseline_stops_at_the_runs_first_fault_of_any_kind(run: Path) -> None:
    _load(run)
    _fault(at=T0 + 1.0, reverted=None)  # e.g. defences switched off first
    _fault()
    out = slo.good_ratio_drop_at_most()
    assert out["baseline"]["t1"] == pytest.approx(T0 + 1.0)


def test_good_ratio_drop_passes_within_and_fails_beyond_its_bound(run: Path) -> None:
    _load(run, fault_error_every=50)  # 2 % errors during the fault
    _fault()
    out = slo.good_ratio_drop_at_most(max_drop=0.03)
    assert out["baseline_good_ratio"] == 1.0
    assert out["drop"] == pytest.approx(0.02, abs=0.002)
    with pytest.raises(ActivityFailed, match=r"points below its baseline 100\.0000%"):
        slo.good_ratio_drop_at_most(max_drop=0.01)


def test_latency_rise_passes_within_and_fails_beyond_its_bounds(run: Path) -> None:
    _load(run, fault_ms=250.0)
    _fault()
    out = slo.latency_rise_at_most(max_rise_ms=200)
    assert out["baseline_ms"] == pytest.approx(100.0, rel=0.01)
    assert out["observed_ms"] == pytest.approx(250.0, rel=0.01)
    assert out["factor"] == pytest.approx(2.5, rel=0.02)
    with pytest.raises(ActivityFailed, match=r"rose 150.* more than 100 ms"):
        slo.latency_rise_at_most(max_rise_ms=100)
    with pytest.raises(ActivityFailed, match="more than 2x"):
        slo.latency_rise_at_most(max_rise_ms=200, max_factor=2)
    with pytest.raises(ActivityFailed, match="needs max_rise_ms, max_factor or both"):
        slo.latency_rise_at_most()


def test_too_few_requests_on_either_side_is_no_evidence(run: Path) -> None:
    _load(run, rate=10)  # 30 requests before the fault
    _fault()
    with pytest.raises(ActivityFailed, match="baseline holds 30 requests, fewer than min_requests=50"):
        slo.good_ratio_drop_at_most()
    assert slo.good_ratio_drop_at_most(min_requests=30)["ok"]


def test_error_budget_within_reports_minutes_of_a_30_day_budget(run: Path) -> None:
    _load(run, fault_error_every=10)  # 10 % errors for 5.9 s of the fault window
    _fault()
    out = slo.error_budget_within(slo=0.9995, window="fault")
    assert out["ok"] and out["budget_min"] == pytest.approx(21.6)
    assert out["duration_s"] == pytest.approx(REVERTED - (T0 + 3.0))
    assert out["budget_consumed_min"] == pytest.approx(out["error_ratio"] * out["duration_s"] / 60)
    assert out["error_ratio"] == pytest.approx(0.1, abs=0.01)
    assert out["budget_consumed"] == pytest.approx(out["error_ratio"] / 0.0005)
    with pytest.raises(ActivityFailed, match=r"above the allowed 0\.001 min"):
        slo.error_budget_within(slo=0.9995, window="fault", max_minutes=0.001)
    with pytest.raises(ActivityFailed, match="above the allowed 100x"):
        slo.error_budget_within(slo=0.9995, window="fault", max_fraction=100)
    # The older probe still answers True for tolerance: true, and names the minutes when it fails.
    assert slo.error_budget_consumed_at_most(slo=0.9995, window="fault", max_fraction=1000) is True
    with pytest.raises(ActivityFailed, match=r"of the 30-day budget's 21\.6 minutes"):
        slo.error_budget_consumed_at_most(slo=0.9995, window="fault", max_fraction=1)
