"""Rows 7a/7b of BENCHMARKS.md from the k8s scale benchmark's JSON: the experiment's status
decides 7a, the ratio decides 7b, and a --quick run never claims the issue's size.

No cluster: ``benchmarks/run.py`` is loaded from its file and fed JSON shaped like
``benchmarks/k8s_scale.py`` prints.
"""

from typing import Any

import pytest
from bench_support import load_benchmark

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


def _result(
    status: str = "completed", deviated: bool = False, ratio: float = 6.0, quick: bool = False
) -> dict[str, Any]:
    return {
        "nodes": 1000,
        "pods": 10000,
        "cluster_up_s": 40.0,
        "pods_ready_s": 200.0,
        "zone_outage": {
            "experiment": "experiments/kubernetes-scale/zone-outage-at-scale.yaml",
            "status": status,
            "deviated": deviated,
            "chaos_exit": 0 if status == "completed" and not deviated else 1,
            "failed_steps": [] if status == "completed" else ["dc-back-at-full-strength"],
            "zone": "dc1-az-a",
            "nodes": 50,
            "within_s": 300,
            "taint_s": 1.2,
            "evicted_s": 20.5,
            "full_strength_after_s": 35.0 if status == "completed" else None,
            "faults_reverted": True,
            "run_s": 70.0,
        },
        "pod_kill": {
            "count": 500,
            "rounds": 2,
            "chaosdrill_pods_per_s": round(500 / (16.0 / ratio), 1),
            "chaosk8s_pods_per_s": 31.2,
            "ratio": ratio,
            "target_ratio": 5.0,
            "runs": [
                {
                    "tool": "chaosdrill",
                    "dc": "dc2",
                    "killed": 500,
                    "s": 16.0 / ratio,
                    "list_s": 0.3,
                    "delete_s": 16.0 / ratio - 0.6,
                    "verify_s": 0.3,
                },
                {"tool": "chaosk8s", "dc": "dc3", "killed": 500, "s": 16.0},
            ],
        },
        "machine": {"cpus": 2, "quick": quick},
    }


def test_a_completed_experiment_and_a_5x_kill_meet_both_targets() -> None:
    zone, kill = load_benchmark("run").rows_k8s(_result())
    assert (zone.met, kill.met) == ("yes", "yes")
    assert "status **completed**" in zone.ours and "35.0 s" in zone.ours
    assert kill.ratio == "6.0x"
    assert "list 0.30 + deletes 2.07 + check 0.30 s" in kill.ours
    assert "500 pods in 16.00 s" in kill.peer and "list" not in kill.peer


def test_a_failed_experiment_misses_7a_and_says_which_step() -> None:
    zone, _ = load_benchmark("run").rows_k8s(_result(status="failed"))
    assert zone.met == "no"
    assert "dc-back-at-full-strength" in zone.why_missed


def test_a_deviated_experiment_misses_7a() -> None:
    zone, _ = load_benchmark("run").rows_k8s(_result(deviated=True))
    assert zone.met == "no"


def test_a_kill_under_5x_misses_7b_with_a_reason() -> None:
    _, kill = load_benchmark("run").rows_k8s(_result(ratio=3.6))
    assert kill.met == "no" and kill.why_missed


def test_quick_size_leaves_7a_pending() -> None:
    zone, _ = load_benchmark("run").rows_k8s(_result(quick=True))
    assert zone.met == "pending"
    assert "--quick" in zone.how
