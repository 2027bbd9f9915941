"""The config file as the CLI commands load it: every problem printed, one per line."""

from __future__ import annotations

import sys
from pathlib import Path

from watchd.config import Config, load_config
from watchd.configbase import ConfigError


def load_or_report(path: Path) -> Config | None:
    """The config at `path`; None after printing its problems to stderr (`FILE: key: …`)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return None
