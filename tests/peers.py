"""Real peers the tests need are installed by scripts/test.sh: a missing one fails, never skips."""

from __future__ import annotations

import pytest


def require_installed(present: bool, packages: str) -> None:
    """Fail with the package to install when a real peer is missing (a skip would hide it)."""
    if not present:
        pytest.fail(f"{packages} not installed: `bash scripts/test.sh` installs it", pytrace=False)
