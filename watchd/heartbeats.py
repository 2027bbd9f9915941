"""Heartbeat monitors: the check's options, the last pings a job sent, and when the next is due.

An external job (a backup, a cron job) pings `/api/v1/heartbeat/ITEM/CHECK` when it succeeds,
`/start` when it starts, `/fail` or its exit code when it ends. The pings are stored (the API
writes them, whichever node takes the request); the node that owns the check reads them on
each run (collectors/heartbeat.py) and decides:

- the last end was a failure (`/fail`, a non-zero code): CRITICAL at once;
- a job that started and has not ended within `grace`: CRITICAL;
- no success by the next expected time (the last success plus `period`, or the cron
  schedule's next time after it) plus `grace`: CRITICAL;
- otherwise OK. Before the first ping the job has its period (or the schedule's next time)
  plus grace from watchd's start; after a restart, a ping that fell due while watchd was
  down has grace from the start: a restart never raises a false "missed" at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from watchd.configbase import Strict, TimeZone
from watchd.crontab import Crontab, cron_times
from watchd.durations import Duration, format_duration
from watchd.secrets import SecretRef


class HeartbeatConfig(Strict):
    """A heartbeat check's own keys (`kind = "heartbeat"`)."""

    period: Duration | None = Field(default=None, gt=0)  # a ping is expected every period
    cron: Crontab | None = None  # or at each time of this schedule
    timezone: TimeZone = "UTC"  # the cron schedule's zone
    grace: Duration = Field(default=300.0, ge=0)  # how late a ping may be
    # A secret the job puts in the URL (?key=...); without it, a token with the ingest scope
    # (or nothing, when the API has no tokens).
    secret: SecretRef | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> HeartbeatConfig:
        if (self.period is None) == (self.cron is None):
            raise ValueError("expected exactly one of 'period' or 'cron'")
        return self

    def next_due(self, after: float) -> float:
        """When the next ping is expected after one at `after` (epoch seconds), grace excluded."""
        if self.period is not None:
            return after + self.period
        assert self.cron is not None  # one of the two, checked at load
        # The next time strictly after the ping: a job pinging at 03:00:00 is the 03:00 run.
        return next(cron_times(self.cron, ZoneInfo(self.timezone), after))


@dataclass(frozen=True, slots=True)
class PingRecord:
    """What is stored of a heartbeat check's pings (epoch seconds; None: never)."""

    success_at: float | None = None
    start_at: float | None = None  # the last /start
    fail_at: float | None = None  # the last /fail or non-zero exit code
    exit_code: int | None = None  # of the last failure, when it gave one
    duration: float | None = None  # from the last /start to the success after it


PingKind = Literal["success", "start", "fail"]
"""What a ping says: the job succeeded, started or failed."""


@dataclass(frozen=True, slots=True)
class PingSource:
    """What a heartbeat check reads on each run: `read` the stored pings of a check by its
    key ("item/check"), `now` the time, and `started_at` when this watchd process started
    (a job's grace restarts with the process, never with a reload)."""

    read: Callable[[str], Awaitable[PingRecord | None]]
    now: Callable[[], float]
    started_at: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """A heartbeat's state at one time: `ok`, and a message saying why."""

    ok: bool
    message: str


def judge(
    config: HeartbeatConfig, record: PingRecord | None, *, now: float, started_at: float
) -> Verdict:
    """The state of a heartbeat at `now`, watchd having started at `started_at`."""
    record = record or PingRecord()
    last_end = max((t for t in (record.success_at, record.fail_at) if t is not None), default=None)
    if record.fail_at is not None and record.fail_at == last_end:
        code = f" (exit code {record.exit_code})" if record.exit_code is not None else ""
        return Verdict(False, f"the job reported a failure{code} at {_when(record.fail_at)}")
    if record.start_at is not None and (last_end is None or record.start_at > last_end):
        # A job that started has `grace` to end; a restart of watchd gives it grace again.
        limit = max(record.start_at, started_at) + config.grace
        if now > limit:
            return Verdict(
                False,
                f"the job started at {_when(record.start_at)} and has not ended "
                f"(grace {format_duration(config.grace)})",
            )
        return Verdict(True, f"the job is running since {_when(record.start_at)}")
    if record.success_at is None:
        due = config.next_due(started_at)
    else:
        # Pings missed while watchd was down are not held against the job at once: after a
        # restart it has its grace again.
        due = max(config.next_due(record.success_at), started_at)
    limit = due + config.grace
    if now > limit:
        last = (
            f"the last came at {_when(record.success_at)}"
            if record.success_at is not None
            else "none came since watchd started"
        )
        grace = format_duration(config.grace)
        return Verdict(False, f"missed the ping due at {_when(due)} (grace {grace}); {last}")
    if record.success_at is None:
        return Verdict(True, f"waiting for the first ping, due by {_when(limit)}")
    return Verdict(True, f"last ping at {_when(record.success_at)}, next due by {_when(limit)}")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
