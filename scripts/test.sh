#!/usr/bin/env bash
# Install everything the tests need (Debian packages and Python packages) and run the whole suite:
# lint, types, unit tests and the integration tests against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_python
# Real peers the tests start on loopback: PostgreSQL, Mosquitto, net-snmp, Nagios plugins,
# Prometheus and Alertmanager, Chromium for the dashboard, systemd-analyze for the unit file,
# unshare (util-linux) for the DNS-failure test in an empty network namespace.
apt_install postgresql mosquitto mosquitto-clients snmpd snmp snmptrapd \
  monitoring-plugins-basic monitoring-plugins-standard systemd iputils-ping util-linux \
  prometheus prometheus-alertmanager chromium
install_project ".[test,report]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider "$@"
