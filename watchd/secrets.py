"""Secrets come from a file or an environment variable, never from the config text itself.

A `SecretRef` is what config holds; `reveal()` reads the value when it is needed. Its repr
never shows the value, so a secret cannot reach a log line by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import model_validator

from watchd.configbase import Strict


class SecretError(Exception):
    """A secret could not be read; `source` says where it was looked for."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"secret from {source} could not be read: {reason}")
        self.source = source
        self.reason = reason


class SecretRef(Strict):
    """Where a secret lives: `file = "/etc/watchd/token"` or `env = "WATCHD_TOKEN"`."""

    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("expected exactly one of 'file' or 'env'")
        return self

    @property
    def source(self) -> str:
        return f"file {self.file}" if self.file is not None else f"environment variable {self.env}"

    def reveal(self) -> str:
        """Read the secret now; trailing newlines of a file are dropped."""
        if self.file is not None:
            try:
                return self.file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise SecretError(self.source, exc.strerror or str(exc)) from exc
        assert self.env is not None
        value = os.environ.get(self.env)
        if value is None:
            raise SecretError(self.source, "it is not set")
        return value

    def __repr__(self) -> str:
        return f"SecretRef({self.source})"
