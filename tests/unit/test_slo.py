import pytest

from chaosdrill.slo import (
    availability,
    bad_minutes,
    budget_consumed,
    budget_minutes,
    budget_spend,
    burn_rate,
    latency_rise,
    multiwindow_breach,
    ratio_drop,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_availability() -> None:
    assert availability(995, 5) == pytest.approx(0.995)
    assert availability(0, 0) is None


def test_budget_and_burn() -> None:
    # 1% errors against a 99.5% SLO burn the budget twice over.
    assert budget_consumed(0.99, 0.995) == pytest.approx(2.0)
    assert burn_rate(0.005, 0.995) == pytest.approx(1.0)
    assert burn_rate(0.144, 0.99) == pytest.approx(14.4)


@pytest.mark.parametrize("slo", [0.0, 1.0, 1.5])
def test_slo_out_of_range(slo: float) -> None:
    with pytest.raises(ValueError):
        burn_rate(0.1, slo)


def test_multiwindow_needs_both_windows() -> None:
    assert multiwindow_breach(0.5, 0.5, 0.99, 10).breached
    assert not multiwindow_breach(0.5, 0.01, 0.99, 10).breached  # long window still calm
    assert not multiwindow_breach(0.01, 0.5, 0.99, 10).breached  # already recovered
    assert not multiwindow_breach(None, 0.5, 0.99, 10).breached


# --- budget minutes ------------------------------------------------------------------------


def test_a_30_day_budget_in_minutes() -> None:
    assert budget_minutes(0.9995) == pytest.approx(21.6)  # the SRE figure: 43,200 min x 0.05 %
    assert budget_minutes(0.995) == pytest.approx(216.0)
    assert budget_minutes(0.999, period_days=28) == pytest.approx(40.32)


def test_bad_minutes_are_error_ratio_times_duration() -> None:
    assert bad_minutes(1.0, 60.0) == pytest.approx(1.0)  # a full minute of total outage
    assert bad_minutes(0.1, 600.0) == pytest.approx(1.0)  # 10 % errors for 10 min: the same
    assert bad_minutes(0.0, 3600.0) == 0.0


def test_budget_spend_minutes_and_share() -> None:
    # 2 % errors for 30 s at 99.95 %: 0.6 s of outage = 0.01 min of the 21.6 min budget.
    spend = budget_spend(0.02, 30.0, 0.9995)
    assert spend.consumed_min == pytest.approx(0.01)
    assert spend.budget_min == pytest.approx(21.6)
    assert spend.share == pytest.approx(0.01 / 21.6)
    assert spend.to_dict()["budget_consumed_min"] == pytest.approx(0.01)
    # The share is also the burn rate over the window, scaled to the period.
    assert spend.share == pytest.approx(burn_rate(0.02, 0.9995) * 30.0 / (30 * 86400))


@pytest.mark.parametrize(
    ("ratio", "duration", "slo", "days"),
    [(-0.1, 10, 0.99, 30), (1.1, 10, 0.99, 30), (0.1, -1, 0.99, 30), (0.1, 10, 1.0, 30), (0.1, 10, 0.99, 0)],
)
def test_budget_spend_refuses_nonsense(ratio: float, duration: float, slo: float, days: float) -> None:
    with pytest.raises(ValueError):
        budget_spend(ratio, duration, slo, days)


# --- baseline comparisons ------------------------------------------------------------------


def test_ratio_drop_in_points() -> None:
    assert ratio_drop(1.0, 0.995) == pytest.approx(0.005)
    assert ratio_drop(0.99, 0.995) == pytest.approx(-0.005)  # better than its baseline
    with pytest.raises(ValueError):
        ratio_drop(1.2, 0.9)


def test_latency_rise_by_ms_and_by_factor() -> None:
    rise = latency_rise(20.0, 70.0, max_rise_ms=100)
    assert rise.rise_ms == pytest.approx(50.0) and rise.factor == pytest.approx(3.5)
    assert rise.violations() == []
    assert latency_rise(20.0, 70.0, max_factor=3.0).violations() == [
        "rose to 3.50x of its baseline, more than 3x"
    ]
    assert latency_rise(20.0, 130.0, max_rise_ms=100).violations() == ["rose 110.0 ms, more than 100 ms"]
    both = latency_rise(20.0, 130.0, max_rise_ms=100, max_factor=5)
    assert len(both.violations()) == 2  # each bound given must hold
    assert latency_rise(20.0, 10.0, max_rise_ms=0).violations() == []  # it fell


def test_latency_rise_from_a_zero_baseline() -> None:
    rise = latency_rise(0.0, 5.0, max_rise_ms=10, max_factor=2)
    assert rise.factor is None
    assert rise.violations() == ["rose to an infinite factor of its baseline, more than 2x"]
    assert latency_rise(0.0, 0.0, max_factor=2).violations() == []


@pytest.mark.parametrize(
    "kwargs", [{}, {"max_rise_ms": -1.0}, {"max_factor": 0.5}, {"max_rise_ms": 1.0, "baseline_ms": -1.0}]
)
def test_latency_rise_refuses_nonsense(kwargs: dict[str, float]) -> None:
    args = {"baseline_ms": 10.0, "observed_ms": 20.0, **kwargs}
    with pytest.raises(ValueError):
        latency_rise(**args)
