"""`watchd --version` and `-V`: what a bug report needs, without a config."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from watchd.api.openapi import package_version


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_watchd_python_and_the_event_loop_and_exits_0(flag: str) -> None:
    """The installed command prints watchd's version, the Python version and the loop `run`
    would use, then exits 0 without reading any config."""
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", flag], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"watchd {package_version()} (Python {platform.python_version()}, ")
    try:
        import uvloop  # noqa: F401
    except ImportError:
        assert line.endswith("event loop asyncio)")
    else:
        assert "event loop uvloop " in line
