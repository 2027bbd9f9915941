"""Issue 19, finding 4: the systemd unit gives watchd descriptors for its API and its own work."""

from __future__ import annotations

from tests.test_systemd_unit import UNIT, settings
from watchd.api.config import ApiConfig


def test_unit_raises_the_descriptor_limit_above_twice_the_connection_limit() -> None:
    """LimitNOFILE lets the default max_connections be served with as many descriptors spare."""
    found = settings(UNIT.read_text())
    assert "LimitNOFILE" in found, "the unit keeps systemd's default soft limit of 1024"
    soft = found["LimitNOFILE"][-1].split(":")[0]
    assert int(soft) >= 2 * ApiConfig().max_connections + 1024
