#!/usr/bin/env bash
# The monthly drill, for any CI: restore the history, run this month's rotation slot, show
# the trends and regressions, save the history. Every CI file only calls this script.
#
#   ci/monthly-drill.sh            # the current month (UTC)
#   DRILL_MONTH=2027-04 ci/monthly-drill.sh
#
# Exit code: the drill's (0 as expected, 1 a finding, 2 a broken drill); 1 also when the
# history flags a regression and DRILL_FAIL_ON_REGRESSION=1; the history is pushed whatever
# the drill's verdict.
set -uo pipefail

cd "$(dirname "$0")/.."
plan="${DRILL_PLAN:-ci/plans/sandbox-rotation.yaml}"
store="reports/drill-history.sqlite"

bash ci/setup.sh || exit 2
bash ci/drill-history.sh fetch "$store" || exit 2

args=(drill run "$plan" --out reports/sandbox --history "$store")
[[ -n "${DRILL_MONTH:-}" ]] && args+=(--month "$DRILL_MONTH")
.venv/bin/chaosdrill "${args[@]}"
rc=$?

history_args=(drill history --history "$store")
[[ "${DRILL_FAIL_ON_REGRESSION:-0}" == "1" ]] && history_args+=(--fail-on-regression)
.venv/bin/chaosdrill "${history_args[@]}"
history_rc=$?

bash ci/drill-history.sh push "$store" || { echo "monthly-drill: the history was not saved" >&2; rc=2; }
if [[ $rc -eq 0 && $history_rc -ne 0 ]]; then
  rc=1
fi
exit $rc
