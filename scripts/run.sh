#!/usr/bin/env bash
# Install watchd into ./.venv on a fresh Debian machine and run it on the shipped config.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_python
install_project .
exec .venv/bin/watchd run -c "${WATCHD_CONFIG:-config.toml}"
