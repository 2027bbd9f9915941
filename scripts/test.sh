#!/usr/bin/env bash
# Install everything the tests need (Debian packages and Python packages) and run the whole suite:
# lint, types, unit tests and the integration tests against real servers; then the unit tests
# again on the lowest dependency versions pyproject.toml declares.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_python
# Real peers the tests start on loopback: PostgreSQL, Mosquitto, net-snmp, Nagios plugins,
# Prometheus and Alertmanager, Chromium for the dashboard, systemd-analyze for the unit file,
# unshare (util-linux) for the DNS-failure test in an empty network namespace, libfaketime
# (faketime) to step the real daemon's wall clock and to run an snmpd's clock fast, dnsmasq
# (dnsmasq-base: the binary without the system service) as the DNS server the dns check asks,
# zsh and fish for the completion scripts (bash is there already), fonts-wqy-microhei for
# Chinese text in report charts (as scripts/run.sh installs it); systemd brings
# systemd-journald, which tests/integration/test_journald.py runs in a namespace of its own.
apt_install postgresql mosquitto mosquitto-clients snmpd snmp snmptrapd \
  monitoring-plugins-basic monitoring-plugins-standard systemd iputils-ping util-linux \
  prometheus prometheus-alertmanager chromium faketime dnsmasq-base zsh fish fonts-wqy-microhei
install_project ".[test,report]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider "$@"

# Then on the lowest versions pyproject.toml allows, in a venv of their own, so a lower bound that
# stopped being true fails here rather than on a user's install: the unit tests, and the tests that
# drive the libraries whose internals watchd reaches (aiosqlite is in the unit tests; MQTT and
# SNMP need the real peers above) or whose API a collector is built on (httptools). Their warnings are the old versions' deprecations, not shown.
# A run of chosen tests ("$@") skips this.
[ $# -eq 0 ] || exit 0
[ -x .venv-lowest/bin/python ] || python3 -m venv .venv-lowest
python3 scripts/lowest_constraints.py >.venv-lowest/constraints.txt
.venv-lowest/bin/python -m pip install -q --upgrade pip
.venv-lowest/bin/python -m pip install -q -c .venv-lowest/constraints.txt -e ".[test,report]"
.venv-lowest/bin/pytest -q -p no:cacheprovider --disable-warnings -m "not integration"
.venv-lowest/bin/pytest -q -p no:cacheprovider --disable-warnings -k "mqtt or snmp" \
  tests/ingest/test_mqtt_ingest.py tests/ingest/test_snmptrap.py tests/collectors/test_snmp.py \
  tests/notify/test_receivers.py
# The http collector's tests: the lean client parses with httptools and takes its cookie jar and
# URLs from aiohttp and yarl at their lowest versions.
.venv-lowest/bin/pytest -q -p no:cacheprovider --disable-warnings \
  tests/collectors/test_http_wire.py tests/collectors/test_http.py
