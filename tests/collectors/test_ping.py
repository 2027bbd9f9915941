"""The ping collector, against loopback only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from collectors.ping import PingCollector, PingConfig, unprivileged_allowed
from watchd.model import CheckContext, Status

CTX = CheckContext(item="localhost", check="ping", address="127.0.0.1", timeout=10.0)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_ping_loopback_gives_rtt_and_no_loss() -> None:
    """Pinging 127.0.0.1 is OK with no loss and RTT samples in seconds."""
    result = await PingCollector(PingConfig(count=3, interval=0.05)).collect(CTX)
    assert result.status is Status.OK, result.message
    values = {s.metric: s.value for s in result.samples}
    assert values["ping_loss_ratio"] == 0
    assert 0 <= values["ping_rtt_min_seconds"] <= values["ping_rtt_avg_seconds"]
    assert values["ping_rtt_avg_seconds"] <= values["ping_rtt_max_seconds"] < 1


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ping_ipv6_loopback() -> None:
    """Pinging ::1 works the same way."""
    result = await PingCollector(PingConfig(host="::1", count=2, interval=0.05)).collect(CTX)
    assert result.status is Status.OK, result.message


async def test_rtt_threshold_warns() -> None:
    """An average RTT at or above warn_rtt is WARNING."""
    result = await PingCollector(PingConfig(count=2, interval=0.05, warn_rtt=0.0)).collect(CTX)
    assert result.status is Status.WARNING


def test_ping_group_range_decides_unprivileged(tmp_path: Path) -> None:
    """Unprivileged sockets are used only when the kernel's group range includes our group."""
    file = tmp_path / "range"
    file.write_text("1\t0\n")
    assert not unprivileged_allowed(file)
    file.write_text("0\t2147483647\n")
    assert unprivileged_allowed(file)
