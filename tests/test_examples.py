"""Every config in examples/ passes `watchd check-config`, so an example never teaches a key
that no longer exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watchd import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(EXAMPLES.rglob("*.toml"))


def test_the_complete_example_is_there() -> None:
    """A full site (receivers, routes, escalation, services, inhibit rules, maintenance)."""
    assert EXAMPLES / "complete.toml" in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_check_config_passes_every_example_without_warnings(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd check-config --json -c EXAMPLE` exits 0 with no problem and no warning."""
    code = cli.main(["check-config", "--json", "-c", str(path)])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["problems"], report["warnings"]) == (0, [], [])


def test_the_complete_example_uses_every_part_it_promises() -> None:
    """Receivers of several kinds, a nested route, escalation, SLA, services with objectives,
    inhibit rules and maintenance windows, as loaded (not just as written)."""
    from watchd.config import load_config

    config = load_config(EXAMPLES / "complete.toml")
    assert len({r.kind for r in config.receivers}) >= 4
    assert config.route.routes and config.incidents.escalation and config.incidents.sla
    assert all(s.objective for s in config.services) and len(config.services) >= 2
    assert config.inhibit_rules and config.maintenance
