import pytest

from chaosdrill.slo import availability, budget_consumed, burn_rate, multiwindow_breach

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
