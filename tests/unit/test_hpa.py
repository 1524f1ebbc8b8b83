import pytest

from chaosdrill.sandbox.hpa import Recommender, desired_replicas

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    ("current", "util", "expected"),
    [
        (2, 0.7, 2),  # on target
        (2, 0.76, 2),  # within 10% tolerance
        (2, 0.63, 2),  # within tolerance below
        (2, 0.875, 3),  # ceil(2 * 1.25) = 3
        (3, 1.0, 5),  # ceil(3 * 1.4286) = 5
        (4, 0.2, 2),  # ceil(1.14) = 2
        (10, 0.0, 1),  # clamp to min
        (10, 3.0, 20),  # clamp to max
    ],
)
def test_desired_replicas(current: int, util: float, expected: int) -> None:
    assert desired_replicas(current, util, 0.7, 0.1, 1, 20) == expected


def test_no_replicas_means_min() -> None:
    assert desired_replicas(0, 0.9, 0.7, 0.1, 3, 20) == 3


def test_scale_up_is_immediate_scale_down_is_stabilized() -> None:
    rec = Recommender(stabilization_s=10)
    assert rec.recommend(0, 5, current=3) == 5
    assert rec.recommend(2, 2, current=5) == 5  # 5 was recommended within the window
    assert rec.recommend(9, 2, current=5) == 5
    assert rec.recommend(11, 2, current=5) == 2  # the 5 left the window
