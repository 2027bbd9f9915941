#!/usr/bin/env bash
# Install watchd into ./.venv on a fresh Debian machine and run it on the shipped config.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_python
# A font with Chinese glyphs: report charts draw CJK service and item names with it, not boxes.
apt_install fonts-wqy-microhei
# The extras the operating guide uses: HTML reports (matplotlib) and the faster event loop.
install_project '.[report,uvloop]'
exec .venv/bin/watchd run -c "${WATCHD_CONFIG:-config.toml}"
