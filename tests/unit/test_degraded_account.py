"""The pure halves of the fallback probe's sandbox path: a breaker's open spans from its
transitions, and a DC's per-second degraded account counted inside them."""

import pytest

from chaosdrill.components import count_in_spans, open_spans

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def test_open_spans_join_open_and_half_open_until_closed() -> None:
    transitions = [(10.0, "open"), (12.0, "half_open"), (12.5, "open"), (15.0, "closed"), (20.0, "open")]
    assert open_spans(transitions) == [(10.0, 15.0), (20.0, None)]
    assert open_spans([]) == []
    assert open_spans([(5.0, "closed")]) == []


def test_only_seconds_touching_a_span_count() -> None:
    account = [[9, 100], [10, 3], [14, 4], [15, 5], [16, 200], [30, 7]]
    # second 9 ends at 10 (not in), 10 and 14 in, 15 starts at the close (not in), 16 out
    assert count_in_spans(account, [(10.0, 15.0)]) == 7
    # a span still open counts everything after its start
    assert count_in_spans(account, [(10.0, 15.0), (29.5, None)]) == 14
    assert count_in_spans(account, []) == 0
    # a span inside one second counts that second whole: the account is per second
    assert count_in_spans(account, [(14.2, 14.3)]) == 4
