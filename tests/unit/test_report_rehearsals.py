"""The drill report shows each rehearsal's runbook, status, time to detect and time to mitigate."""

from chaosdrill.report.html import render_html
from chaosdrill.report.markdown import render_markdown
from chaosdrill.report.rehearsals import rehearsal_row

RECORD = {
    "runbook": "runbooks/dc-loss.md",
    "status": "passed",
    "ttd_s": 1.348,
    "ttm_s": 3.91,
    "steps": [{"outcome": "passed"}, {"outcome": "done"}, {"outcome": "failed"}],
}


def test_a_rehearsal_row_carries_ttd_ttm_and_the_steps_passed() -> None:
    row = rehearsal_row(RECORD)
    assert (row.runbook, row.status, row.ttd_s, row.ttm_s) == ("runbooks/dc-loss.md", "passed", 1.348, 3.91)
    assert row.steps == "2 of 3 passed"


def test_missing_or_malformed_times_are_unknown_not_zero() -> None:
    row = rehearsal_row({"runbook": "r.md", "ttd_s": "soon", "ttm_s": True})
    assert (row.status, row.ttd_s, row.ttm_s, row.steps) == ("unknown", None, None, "0 of 0 passed")


def test_both_reports_show_the_rehearsal_and_only_when_there_is_one() -> None:
    md = render_markdown([], "Drill x", [RECORD])
    line = next(line for line in md.splitlines() if "runbooks/dc-loss.md" in line)
    assert "passed" in line and "1.3" in line and "3.9" in line and "2 of 3 passed" in line
    html = render_html([], "Drill x", None, [RECORD])
    assert "<h2>Rehearsals</h2>" in html and "runbooks/dc-loss.md" in html and "2 of 3 passed" in html
    assert "Rehearsals" not in render_markdown([], "Drill x") and "<h2>Rehearsals</h2>" not in render_html(
        [], "x"
    )
