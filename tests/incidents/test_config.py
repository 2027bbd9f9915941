"""Config of incidents, inhibit rules and maintenance windows: bad values are config problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from watchd.config import parse_config
from watchd.configbase import ConfigError


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (
            {"inhibit_rules": [{"source_matchers": ['x=~"("'], "target_matchers": ["a=b"]}]},
            "inhibit_rules[0].source_matchers",
        ),
        (
            {"maintenance": [{"name": "m", "items": ["a"], "cron": "not cron", "duration": "1h"}]},
            'maintenance[0]("m").cron',
        ),
        ({"maintenance": [{"name": "m", "matchers": ["a=b"]}]}, 'maintenance[0]("m")'),
        (
            {
                "maintenance": [
                    {
                        "name": "m",
                        "items": ["a"],
                        "start": "2030-01-01T00:00:00",
                        "end": "2030-01-01T01:00:00",
                        "timezone": "Mars/Olympus",
                    }
                ]
            },
            'maintenance[0]("m").timezone',
        ),
        ({"incidents": {"group_by": ["item"], "reopen_windw": "5m"}}, "incidents.reopen_windw"),
        (
            {"incidents": {"sla": {"critical": {"pause_while_muted": "sometimes"}}}},
            "incidents.sla.critical.pause_while_muted",
        ),
    ],
)
def test_bad_incident_config_names_the_key(raw: dict[str, Any], where: str) -> None:
    """Each mistake is reported with its key path."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, Path("c.toml"))
    assert any(p.path == where for p in caught.value.problems), caught.value.problems


def test_defaults_match_the_design() -> None:
    """group_by item+check, reopen 30m, resolve_timeout 5m, problems 3 in 7d."""
    cfg = parse_config({}, Path("c.toml")).incidents
    assert cfg.group_by == ["item", "check"]
    assert (cfg.reopen_window, cfg.resolve_timeout) == (1800.0, 300.0)
    assert (cfg.problem_threshold, cfg.problem_period) == (3, 7 * 86400.0)
