"""The `[rules]` table of config.toml: which rule files to load and the rule engine's defaults."""

from __future__ import annotations

import glob
from pathlib import Path

from pydantic import Field, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.flap import FlapPolicy


class RulesConfig(Strict):
    """Rule files (glob patterns, relative to the config file's directory) and engine defaults."""

    files: list[str] = []
    flap_low: float = Field(default=5.0, ge=0, le=100)
    flap_high: float = Field(default=20.0, ge=0, le=100)
    evaluation_interval: Duration = 15.0

    @model_validator(mode="after")
    def _low_below_high(self) -> RulesConfig:
        if self.flap_low > self.flap_high:
            raise ValueError(
                f"expected flap_low <= flap_high, got {self.flap_low} > {self.flap_high}"
            )
        if self.evaluation_interval <= 0:
            raise ValueError("expected an evaluation_interval above zero")
        return self

    def flap_policy(self) -> FlapPolicy:
        """The global flap thresholds; a rule's own `flap:` overrides them."""
        return FlapPolicy(low=self.flap_low, high=self.flap_high)

    def paths(self, base: Path) -> list[Path]:
        """The rule files the patterns name, relative to `base`, sorted, each once.

        A pattern without wildcards names its file even if it does not exist, so the loader
        reports it as missing instead of the file being silently skipped.
        """
        found: dict[Path, None] = {}
        for pattern in self.files:
            for match in _matches(pattern, base):
                found[match] = None
        return list(found)

    def unmatched_warnings(self, base: Path) -> list[str]:
        """A warning line for each wildcard pattern that matches no file: a mistyped directory
        would otherwise load no rules at all without a word."""
        return [
            f'rules.files[{i}]: "{pattern}" matches no file (relative to {base})'
            for i, pattern in enumerate(self.files)
            if not _matches(pattern, base)
        ]


def _matches(pattern: str, base: Path) -> list[Path]:
    """The files a pattern names, sorted; a pattern without wildcards names its one file, which
    may not exist."""
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    if not glob.has_magic(full):
        return [Path(full)]
    return [Path(match) for match in sorted(glob.glob(full, recursive=True))]
