"""The shipped rules under `promtool test rules` (real Prometheus rule evaluation on synthetic
series), and the rendering that sets their objective and latency threshold.

The unit tests proper live in monitoring/tests/*.yml so a team can run them with promtool
alone; these tests run them, and show that they fail when the rules say something else.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chaosdrill.monitoring.alertmanager_config import render_alertmanager_config
from chaosdrill.monitoring.layout import shipped_dir
from chaosdrill.monitoring.rules import SEED_SLO_TARGET, RuleParams, render_rules

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SHIPPED = shipped_dir()


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool") or "/usr/bin/promtool"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_shipped_rule_tests_pass() -> None:
    files = sorted(str(p) for p in (SHIPPED / "tests").glob("*.yml"))
    assert len(files) == 3
    out = promtool("test", "rules", *files)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == 3


def test_rendered_rules_and_alertmanager_config_are_valid(tmp_path: Path) -> None:
    rules = render_rules(SHIPPED / "rules", tmp_path / "rules", RuleParams())
    out = promtool("check", "rules", *map(str, rules))
    assert out.returncode == 0, out.stdout + out.stderr
    am = render_alertmanager_config(
        SHIPPED / "alertmanager.yml", tmp_path / "am.yml", "http://127.0.0.1:4321"
    )
    amtool = shutil.which("amtool") or "/usr/bin/amtool"
    checked = subprocess.run([amtool, "check-config", str(am)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    urls = [h["url"] for r in yaml.safe_load(am.read_text())["receivers"] for h in r["webhook_configs"]]
    assert urls == ["http://127.0.0.1:4321/p0", "http://127.0.0.1:4321/p1"]


def _rendered_test(tmp_path: Path, name: str, params: RuleParams) -> Path:
    """A shipped test file, pointed at a copy of the rules rendered with ``params``."""
    rules = tmp_path / "rules"
    render_rules(SHIPPED / "rules", rules, params)
    doc = yaml.safe_load((SHIPPED / "tests" / name).read_text())
    doc["rule_files"] = [str(rules / Path(f).name) for f in doc["rule_files"]]
    out = tmp_path / name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def test_the_rule_tests_fail_when_the_threshold_differs(tmp_path: Path) -> None:
    # A 1 s threshold: the slow DC's p99 of 0.7 s no longer raises P1, and promtool says so.
    test = _rendered_test(tmp_path, "tiers_test.yml", RuleParams(latency_p99_threshold_s=1.0))
    out = promtool("test", "rules", str(test))
    assert out.returncode != 0
    assert "LatencyP99High" in out.stdout + out.stderr


def test_the_rule_tests_fail_when_the_objective_differs(tmp_path: Path) -> None:
    # At the seed's 99.95% the steady 1% error ratio pages (1% > 6 x 0.05%): the 99.5% tests fail.
    test = _rendered_test(tmp_path, "slo_test.yml", RuleParams(slo_target=SEED_SLO_TARGET))
    out = promtool("test", "rules", str(test))
    assert out.returncode != 0
    assert "ErrorBudgetBurnSlow" in out.stdout + out.stderr


SEED_OBJECTIVE_TEST = """
rule_files: [{rules}]
evaluation_interval: 1s
tests:
  # 2% errors: at 99.95% the fast page's threshold is 14.4 x 0.05% = 0.72%: it pages.
  - interval: 1s
    input_series:
      - series: 'edge_responses_total{{dc="dc1",code="200"}}'
        values: '0+98x120'
      - series: 'edge_responses_total{{dc="dc1",code="503"}}'
        values: '0+2x120'
    alert_rule_test:
      - eval_time: 90s
        alertname: ErrorBudgetBurnFast
        exp_alerts:
          - exp_labels: {{severity: P0, slo: edge-availability, burn_rate: "14.4", long_window: 1m, short_window: 5s}}
            exp_annotations:
              summary: "The availability error budget burns at 14.4x or faster (1m and 5s windows)"
              description: "At this rate 2% of the error budget is spent within 1m; see monitoring/README.md."
    promql_expr_test:
      - expr: chaosdrill:slo_objective:ratio
        eval_time: 1s
        exp_samples:
          - labels: 'chaosdrill:slo_objective:ratio'
            value: {objective}
"""


@pytest.mark.parametrize(("objective", "pages"), [(SEED_SLO_TARGET, True), (0.995, False)])
def test_the_objective_is_a_rendering_parameter(tmp_path: Path, objective: float, pages: bool) -> None:
    rules = render_rules(SHIPPED / "rules", tmp_path / "rules", RuleParams(slo_target=objective))
    slo = next(p for p in rules if p.name == "slo.yml")
    test = tmp_path / "seed_objective_test.yml"
    test.write_text(SEED_OBJECTIVE_TEST.format(rules=slo, objective=objective))
    out = promtool("test", "rules", str(test))
    assert (out.returncode == 0) is pages, out.stdout + out.stderr
    if not pages:
        assert "ErrorBudgetBurnFast" in out.stdout + out.stderr
