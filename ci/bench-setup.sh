#!/usr/bin/env bash
# Idempotent set-up of the peers `make bench` compares against: nginx (the target) and
# wrk (the reference ceiling) from apt, Locust in its own venv (made by
# benchmarks/load_common.py under the chaosdrill cache), and chaosdrill's pinned
# toxiproxy. A second run only checks and takes seconds. Any failure is fatal: a
# benchmark without its peer is not a comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for bin in nginx wrk taskset; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    case "$bin" in
      taskset) need_apt+=(util-linux) ;;
      *) need_apt+=("$bin") ;;
    esac
  fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bench-setup: installing ${need_apt[*]} with apt"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the nginx it installs; the benchmarks run their own on loopback.
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi

# The Locust venv: load_common.locust_python() creates it on first use and prints an error
# (exit 2) if it cannot.
locust_py=$(.venv/bin/python -c 'from benchmarks import load_common as c; print(c.locust_python())') || {
  echo "bench-setup: FAILED to install Locust (the peer of the load benchmarks): $locust_py" >&2
  exit 2
}
"$locust_py" -m locust --version

.venv/bin/chaosdrill tools install >/dev/null
echo "bench-setup: peers ready (nginx, wrk, Locust, toxiproxy)"
