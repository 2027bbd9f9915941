"""The ping collector, against loopback only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from collectors.ping import PingCollector, PingConfig, unprivileged_allowed
from watchd.clock import SystemClock
from watchd.loading import load_setup
from watchd.model import CheckContext, Status
from watchd.scheduler import Scheduler

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
    result = await PingCollector(PingConfig(count=3, echo_interval=0.05)).collect(CTX)
    assert result.status is Status.OK, result.message
    values = {s.metric: s.value for s in result.samples}
    assert values["ping_loss_ratio"] == 0
    assert 0 <= values["ping_rtt_min_seconds"] <= values["ping_rtt_avg_seconds"]
    assert values["ping_rtt_avg_seconds"] <= values["ping_rtt_max_seconds"] < 1


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ping_ipv6_loopback() -> None:
    """Pinging ::1 works the same way."""
    result = await PingCollector(PingConfig(host="::1", count=2, echo_interval=0.05)).collect(CTX)
    assert result.status is Status.OK, result.message


async def test_rtt_threshold_warns() -> None:
    """An average RTT at or above warn_rtt is WARNING."""
    result = await PingCollector(PingConfig(count=2, echo_interval=0.05, warn_rtt=0.0)).collect(CTX)
    assert result.status is Status.WARNING


def test_ping_group_range_decides_unprivileged(tmp_path: Path) -> None:
    """Unprivileged sockets are used only when the kernel's group range includes our group."""
    file = tmp_path / "range"
    file.write_text("1\t0\n")
    assert not unprivileged_allowed(file)
    file.write_text("0\t2147483647\n")
    assert unprivileged_allowed(file)


def _ping_config(tmp_path: Path, check: str) -> Path:
    """A config file with one item on 127.0.0.1 and one ping check written as `check`."""
    path = tmp_path / "watchd.toml"
    path.write_text(
        f'[[items]]\nname = "localhost"\naddress = "127.0.0.1"\n\n'
        f'[[items.checks]]\nname = "ping"\nkind = "ping"\n{check}\n'
    )
    return path


@pytest.mark.parametrize(
    "options",
    ["", 'interval = "30s"\ntimeout = "5s"\necho_interval = 0.05\ncount = 2'],
    ids=["defaults", "schedule-and-echo-spacing"],
)
async def test_ping_from_config_runs_on_its_schedule(tmp_path: Path, options: str) -> None:
    """A ping check written in the config file (with or without a schedule interval) pings
    127.0.0.1 OK through the scheduler, its echoes spaced by echo_interval."""
    setup = load_setup(_ping_config(tmp_path, options))
    [(check, collector)] = setup.collectors
    sched = Scheduler(clock=SystemClock(), handler=_never_called, max_concurrent=1)
    result, info = await sched.run_now(check, collector)
    assert result.status is Status.OK, result.message
    assert not info.failed
    assert info.duration < check.timeout


def test_ping_interval_is_the_schedule(tmp_path: Path) -> None:
    """`interval` in a ping check is the check's schedule, never the spacing of its echoes."""
    setup = load_setup(_ping_config(tmp_path, 'interval = "30s"'))
    [(check, collector)] = setup.collectors
    assert check.interval == 30.0
    assert isinstance(collector, PingCollector)
    assert collector.config.echo_interval == PingConfig().echo_interval


async def _never_called(*_: object) -> bool:
    raise AssertionError("run_now hands the result back, not to the handler")
