"""The rules probes judge Prometheus' answers by: bounds, truth over time, selectors, polling."""

import math

import pytest

from chaosdrill import promql, telemetry
from chaosdrill.drivers.prometheus import Sample, Series
from chaosdrill.errors import ActivityFailed, BadInput, TemporaryError

pytestmark = pytest.mark.unit


def sample(value: float, **labels: str) -> Sample:
    return Sample(labels, value, 0.0)


def test_bounds_are_inclusive_and_may_be_open() -> None:
    assert promql.Bounds(1, 2).holds(1) and promql.Bounds(1, 2).holds(2)
    assert not promql.Bounds(1, 2).holds(2.0001)
    assert promql.Bounds(low=1).holds(math.inf) and not promql.Bounds(high=0).holds(0.5)


def test_nan_is_within_no_bounds() -> None:
    assert not promql.Bounds(-math.inf, math.inf).holds(math.nan)


def test_every_series_must_be_within() -> None:
    inside, outside = sample(1, pod="a"), sample(7, pod="b")
    assert promql.Bounds(0, 5).outside([inside, outside]) == [outside]


@pytest.mark.parametrize(("low", "high"), [(None, None), (3, 2), (math.nan, 1), (True, 2)])
def test_bad_bounds(low: float | None, high: float | None) -> None:
    with pytest.raises(BadInput):
        promql.Bounds(low, high)


def test_bounds_describe_themselves() -> None:
    assert str(promql.Bounds(1, 2)) == "within [1, 2]"
    assert str(promql.Bounds(high=0.5)) == "<= 0.5"


def test_alerts_selector_escapes_values_and_refuses_bad_label_names() -> None:
    assert promql.alerts_selector("Burn", {"dc": 'a"b\\c'}) == (
        'ALERTS{alertname="Burn",alertstate="firing",dc="a\\"b\\\\c"}'
    )
    with pytest.raises(BadInput, match="labels"):
        promql.alerts_selector("Burn", {"bad-name": "x"})


def test_step_times_match_prometheus_range_evaluation() -> None:
    assert promql.step_times(10.0, 12.5, 1.0) == [10000, 11000, 12000]
    assert promql.step_times(10.0, 10.0, 1.0) == [10000]
    assert promql.step_times(10.0, 9.0, 1.0) == []


def test_first_true_is_the_earliest_point_of_any_series() -> None:
    series = [Series({"a": "1"}, ((13.0, 1.0), (14.0, 1.0))), Series({"a": "2"}, ((12.0, 5.0),))]
    assert promql.first_true(series) == 12.0
    assert promql.first_true(series, after=12.5) == 13.0
    assert promql.first_true([]) is None
    assert promql.last_true(series) == 14.0


def test_first_point_after_is_strict() -> None:
    series = [Series({}, ((10.0, 1.0), (10.25, 1.0)))]
    assert promql.first_point_after(series, 10.0) == 10.25


def test_violations_when_expected_true_and_when_expected_false() -> None:
    series = [Series({}, ((10.0, 1.0), (12.0, 1.0)))]
    assert promql.violations(series, 10.0, 13.0, 1.0, expect=True) == [11.0, 13.0]
    assert promql.violations(series, 10.0, 13.0, 1.0, expect=False) == [10.0, 12.0]
    assert promql.violations([], 10.0, 13.0, 1.0, expect=False) == []


def test_fitting_step_widens_only_past_the_point_limit() -> None:
    assert promql.fitting_step(60, 1.0) == 1.0
    assert promql.fitting_step(100_000, 1.0) == 10.0


def test_poll_returns_the_first_value() -> None:
    answers = iter([None, None, 42])
    assert telemetry.poll(deadline=1e12, interval_s=0.001, attempt=lambda: next(answers)) == 42


def test_poll_past_its_deadline_still_looks_once() -> None:
    calls: list[int] = []

    def attempt() -> int | None:
        calls.append(1)
        return None

    assert telemetry.poll(deadline=0.0, interval_s=1.0, attempt=attempt) is None
    assert len(calls) == 1


def test_poll_makes_a_last_temporary_error_the_verdict() -> None:
    def attempt() -> int | None:
        raise TemporaryError("Prometheus at http://127.0.0.1:1: HTTP 503")

    with pytest.raises(ActivityFailed, match="HTTP 503"):
        telemetry.poll(deadline=0.0, interval_s=1.0, attempt=attempt)


@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, True])
def test_durations_must_be_positive(value: float) -> None:
    with pytest.raises(BadInput, match="within_s"):
        telemetry.positive("within_s", value)


def test_json_numbers_keep_nan_and_infinities_readable() -> None:
    assert [telemetry.json_number(v) for v in (1.5, math.nan, math.inf, -math.inf)] == [
        1.5,
        "NaN",
        "+Inf",
        "-Inf",
    ]
