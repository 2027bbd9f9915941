"""The [rules] table of config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from watchd.config import parse_config
from watchd.rules.config import RulesConfig


def test_rule_file_globs_are_relative_to_the_config_file(tmp_path: Path) -> None:
    """`files` patterns resolve against the config file's directory; missing plain names stay."""
    (tmp_path / "rules").mkdir()
    for name in ("b.yaml", "a.yaml"):
        (tmp_path / "rules" / name).write_text("rules: []\n")
    config = parse_config({"rules": {"files": ["rules/*.yaml", "extra.yaml"]}}, tmp_path / "c.toml")
    assert config.rules.paths(tmp_path) == [
        tmp_path / "rules" / "a.yaml",
        tmp_path / "rules" / "b.yaml",
        tmp_path / "extra.yaml",
    ]


def test_defaults_and_flap_policy() -> None:
    """Defaults: no files, flap 5/20, evaluation every 15s."""
    config = RulesConfig()
    assert (config.files, config.evaluation_interval) == ([], 15.0)
    assert (config.flap_policy().low, config.flap_policy().high) == (5.0, 20.0)


def test_low_above_high_is_rejected() -> None:
    """flap_low above flap_high is a config error."""
    with pytest.raises(ValidationError, match="flap_low <= flap_high"):
        RulesConfig(flap_low=30, flap_high=10)
