#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: the pinned Python environment, redis-server,
# prometheus, prometheus-alertmanager, nginx, prometheus-nginx-exporter and chromium from apt
# when missing, and the pinned Go tools.
# A second run only checks stamps and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
stamp="$VENV/.lock-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)"

if [ ! -f "$stamp" ]; then
  echo "setup: creating the Python environment from requirements.lock"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  rm -f "$VENV"/.lock-*
  touch "$stamp"
fi

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The sandbox's monitoring (and promtool/amtool, which come with them).
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# examples/nginx-httpbin: nginx and its Prometheus exporter (nginx is in /usr/sbin, not on every PATH).
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
# The GameDay tests drive `chaosdrill rehearse` through a real terminal.
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v prometheus-nginx-exporter >/dev/null 2>&1 || need_apt+=(prometheus-nginx-exporter)
# The report check (tests/integration/test_report_browser.py) loads the HTML report in headless Chromium.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the services it installs (Prometheus on 9090, Alertmanager on 9093, nginx on
  # 80, the nginx exporter on 9113); the sandbox and the examples run their own instances on
  # free ports. Only what was just installed is disabled (each package names its service): a
  # redis-server or an nginx someone runs on purpose is left alone.
  for svc in "${need_apt[@]}"; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

"$VENV/bin/chaosdrill" tools install ${CHAOSDRILL_TOOLS_FLAGS:-}
