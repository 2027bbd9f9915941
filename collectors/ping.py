"""ICMP echo with icmplib: packet loss and round-trip times.

Unprivileged ICMP datagram sockets are used when the kernel lets one of our groups open them
(net.ipv4.ping_group_range); otherwise raw sockets, which need CAP_NET_RAW (the systemd unit
grants it). A name that does not resolve is UNKNOWN (the host's state is not known); a host
that answers none of the echoes is CRITICAL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import icmplib
from pydantic import Field

from collectors.contract import FixedMetrics, MetricNames
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Sample, Status

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


class PingConfig(Strict):
    host: str = ""  # empty: the item's address
    count: int = Field(default=3, ge=1, le=100)
    # Not `interval`: that common option is the check's schedule, and it would shadow this key.
    echo_interval: float = Field(default=0.2, ge=0.01, le=10.0)  # seconds between echoes
    reply_timeout: float = Field(default=1.0, gt=0, le=30.0)  # seconds to wait for the last one
    payload_size: int = Field(default=56, ge=0, le=65000)
    warn_loss: float | None = Field(default=None, ge=0, le=1)  # ratio 0..1
    crit_loss: float = Field(default=1.0, ge=0, le=1)
    warn_rtt: float | None = None  # average round trip, seconds
    crit_rtt: float | None = None


def unprivileged_allowed(range_file: Path = PING_GROUP_RANGE) -> bool:
    """Whether the kernel lets one of this process's groups open ICMP datagram sockets."""
    try:
        low, high = (int(part) for part in range_file.read_text().split())
    except (OSError, ValueError):
        return False
    return any(low <= gid <= high for gid in {os.getgid(), *os.getgroups()})


class PingCollector(FixedMetrics):
    kind: ClassVar[str] = "ping"
    Config: ClassVar[type[PingConfig]] = PingConfig
    metrics: ClassVar[MetricNames] = MetricNames.of(
        "ping_loss_ratio", "ping_rtt_min_seconds", "ping_rtt_avg_seconds", "ping_rtt_max_seconds"
    )

    def __init__(self, config: PingConfig) -> None:
        self.config = config
        self._privileged = not unprivileged_allowed()

    async def collect(self, ctx: CheckContext) -> CheckResult:
        cfg = self.config
        host = cfg.host or ctx.address or "127.0.0.1"
        try:
            reply = await icmplib.async_ping(
                host,
                count=cfg.count,
                interval=cfg.echo_interval,
                timeout=cfg.reply_timeout,
                payload_size=cfg.payload_size,
                privileged=self._privileged,
            )
        except icmplib.NameLookupError:
            return CheckResult(Status.UNKNOWN, f"cannot resolve host name {host!r}")
        except icmplib.SocketPermissionError:
            how = "raw ICMP sockets need CAP_NET_RAW" if self._privileged else "ICMP sockets"
            return CheckResult(
                Status.UNKNOWN,
                f"not allowed to ping {host}: {how} (or add the group to "
                "net.ipv4.ping_group_range)",
            )
        except icmplib.ICMPLibError as exc:
            return CheckResult(Status.UNKNOWN, f"cannot ping {host}: {exc}")
        loss = reply.packet_loss
        samples = [Sample("ping_loss_ratio", loss, {"target": host})]
        if not reply.is_alive:
            return CheckResult(
                Status.CRITICAL,
                f"{host} unreachable: {reply.packets_sent} of {reply.packets_sent} echoes lost",
                tuple(samples),
            )
        samples += [
            Sample("ping_rtt_min_seconds", reply.min_rtt / 1000, {"target": host}),
            Sample("ping_rtt_avg_seconds", reply.avg_rtt / 1000, {"target": host}),
            Sample("ping_rtt_max_seconds", reply.max_rtt / 1000, {"target": host}),
        ]
        avg = reply.avg_rtt / 1000
        status = Status.OK
        if loss >= cfg.crit_loss or (cfg.crit_rtt is not None and avg >= cfg.crit_rtt):
            status = Status.CRITICAL
        elif (cfg.warn_loss is not None and loss >= cfg.warn_loss) or (
            cfg.warn_rtt is not None and avg >= cfg.warn_rtt
        ):
            status = Status.WARNING
        message = (
            f"{host}: {loss:.0%} loss, rtt min/avg/max "
            f"{reply.min_rtt:.3f}/{reply.avg_rtt:.3f}/{reply.max_rtt:.3f} ms"
        )
        return CheckResult(status, message, tuple(samples))

    async def aclose(self) -> None:
        return None
