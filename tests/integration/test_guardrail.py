"""The guardrail: a drill that burns the error budget is stopped, and its faults removed, by the guardrail.

The end-to-end test runs experiments/sandbox/guardrail-abort.yaml through the real
``chaos run`` against the session sandbox. Its method pauses 60 s after blackholing dc1
with the breaker off, so only the guardrail can end it early.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from chaos_run_support import CHAOS

from chaosdrill.controls.guardrail import Settings, Tail, WindowCounts, evaluate
from chaosdrill.drivers.toxiproxy import ToxiproxyClient
from chaosdrill.expectation import expectation_of, outcome_of
from chaosdrill.ledger import default_ledger

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "sandbox" / "guardrail-abort.yaml"


def _windows(ratios: list[tuple[int, int]], start: float = 1000.0) -> list[WindowCounts]:
    return [WindowCounts(start + i, start + i + 1, good, bad) for i, (good, bad) in enumerate(ratios)]


def test_evaluate_needs_both_windows_over_the_limit() -> None:
    s = Settings(slo=0.995, short_window_s=5, long_window_s=30, burn_limit=10)  # breach at >= 5% errors
    healthy = _windows([(100, 0)] * 30)
    assert not evaluate(healthy, s)[0].breached
    # A 5 s burst at 20% errors after 25 s of health: short 40x, long 20/30*... = 3.3% -> 6.7x.
    blip = _windows([(100, 0)] * 25 + [(80, 20)] * 5)
    verdict, n = evaluate(blip, s)
    assert n == 500 and verdict.short_burn == pytest.approx(40.0) and not verdict.breached
    # Sustained: both windows burn.
    sustained = _windows([(100, 0)] * 15 + [(80, 20)] * 15)
    assert evaluate(sustained, s)[0].breached
    # 429s are not counted at all (WindowCounts has no place for them); too few requests is no evidence.
    assert not evaluate(_windows([(1, 1)] * 30), s)[0].breached
    assert not evaluate([], s)[0].breached


def test_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    tail = Tail(path)
    assert tail.new_windows() == []  # not there yet
    line = {"t0": 1.0, "t1": 2.0, "streams": {"a": {"ok": 3, "degraded": 1, "rejected": 7, "error": 2}}}
    with path.open("w") as fh:
        fh.write(json.dumps({"meta": {}}) + "\n" + json.dumps(line) + "\n" + '{"t0": 2.0, "t1"')
    assert tail.new_windows() == [WindowCounts(1.0, 2.0, 4, 2)]
    with path.open("a") as fh:
        fh.write(': 3.0, "streams": {}}\n')
    assert tail.new_windows() == [WindowCounts(2.0, 3.0, 0, 0)]
    assert tail.new_windows() == []
    tail.close()


def test_guardrail_aborts_the_run_and_removes_faults_within_2s(
    sandbox: dict[str, Any], tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.json"
    began = time.monotonic()
    done = subprocess.run(
        [CHAOS, "--no-version-check", "run", "--journal-path", str(journal_path), str(EXPERIMENT)],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - began
    assert journal_path.exists(), done.stdout + done.stderr
    journal = json.loads(journal_path.read_text())
    # The method pauses 60 s: ending well before that is the guardrail's doing.
    assert took < 40, f"the run took {took:.1f}s; the guardrail did not stop it"
    assert journal["status"] == "interrupted"
    expected = expectation_of(yaml.safe_load(EXPERIMENT.read_text()), str(EXPERIMENT)).status
    assert outcome_of(journal) == expected

    guard = journal["chaosdrill"]["guardrail"]
    assert guard["armed"] and guard["breached"], guard
    assert guard["short_burn"] >= guard["limit"] and guard["long_burn"] >= guard["limit"]
    assert guard["breach_to_removed_s"] <= 2.0, guard
    assert guard["faults_removed_at"] >= guard["breached_at"]
    assert guard["errors_began_at"] is not None and guard["errors_began_at"] <= guard["breached_at"]

    faults = journal["chaosdrill"]["faults"]
    assert {f["kind"] for f in faults} == {"defences_off", "blackhole"}
    assert all(f["how"] == "guardrail" for f in faults), faults
    assert all(f["reverted_at"] <= guard["faults_removed_at"] for f in faults)
    run_id = journal["chaosdrill"]["run_id"]
    assert default_ledger().active(run_id=run_id) == []

    client = ToxiproxyClient(sandbox["toxiproxy"]["api"])
    assert {n: p.toxics for n, p in client.proxies().items() if p.toxics} == {}
    defences = requests.get(f"{sandbox['dcs']['dc1']['gateway']['url']}/admin/state", timeout=5).json()[
        "defences"
    ]
    assert all(defences.values()), defences
