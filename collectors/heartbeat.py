"""Heartbeat check: is the external job that pings this check on time (watchd.heartbeats)?

It measures nothing itself: each run reads the pings stored for the check and judges them,
so a missed ping becomes CRITICAL through the usual SOFT/HARD states, alerts and incidents.
The check's `interval` is how soon a miss is seen: keep it well under `grace`.
"""

from __future__ import annotations

from typing import ClassVar

from collectors.contract import FixedMetrics, MetricNames
from watchd.heartbeats import HeartbeatConfig, judge
from watchd.model import CheckContext, CheckResult, Sample, Status


class HeartbeatCollector(FixedMetrics):
    kind: ClassVar[str] = "heartbeat"
    Config: ClassVar[type[HeartbeatConfig]] = HeartbeatConfig
    metrics: ClassVar[MetricNames] = MetricNames.of(
        "heartbeat_age_seconds", "heartbeat_duration_seconds"
    )

    def __init__(self, config: HeartbeatConfig) -> None:
        self.config = config
        self._duration_of: float | None = None  # the success whose duration was sampled

    async def collect(self, ctx: CheckContext) -> CheckResult:
        source = ctx.pings
        if source is None:
            return CheckResult(Status.UNKNOWN, "heartbeat pings are read by the daemon only")
        record = await source.read(f"{ctx.item}/{ctx.check}")
        now = source.now()
        verdict = judge(self.config, record, now=now, started_at=source.started_at)
        samples: list[Sample] = []
        if record is not None and record.success_at is not None:
            samples.append(Sample("heartbeat_age_seconds", max(0.0, now - record.success_at)))
            # A run's duration is one sample, at its end, not one per check run.
            if record.duration is not None and record.success_at != self._duration_of:
                self._duration_of = record.success_at
                samples.append(
                    Sample("heartbeat_duration_seconds", record.duration, time=record.success_at)
                )
        status = Status.OK if verdict.ok else Status.CRITICAL
        return CheckResult(status, verdict.message, tuple(samples))

    async def aclose(self) -> None:
        return None
