"""When a heartbeat is missed: period and cron schedules, grace, starts, failures, restarts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from watchd.heartbeats import HeartbeatConfig, PingRecord, judge
from watchd.store.heartbeat_pings import run_duration

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC).timestamp()  # a Monday, 02:00 UTC
HOUR = 3600.0


def _hourly(grace: float = 300.0) -> HeartbeatConfig:
    return HeartbeatConfig.model_validate({"period": "1h", "grace": grace})


def test_a_ping_within_period_and_grace_is_ok_and_one_after_is_missed() -> None:
    """A success is expected again one period later; past that plus grace it is CRITICAL."""
    pinged = PingRecord(success_at=T0)
    assert judge(_hourly(), pinged, now=T0 + HOUR + 299, started_at=T0 - 10).ok
    missed = judge(_hourly(), pinged, now=T0 + HOUR + 301, started_at=T0 - 10)
    assert not missed.ok
    assert missed.message == (
        "missed the ping due at 2026-11-30 03:00:00 UTC (grace 5m); "
        "the last came at 2026-11-30 02:00:00 UTC"
    )


def test_a_restart_gives_the_job_its_grace_again() -> None:
    """A ping that fell due while watchd was down is missed only `grace` after the start."""
    pinged = PingRecord(success_at=T0)
    started = T0 + 5 * HOUR
    assert judge(_hourly(), pinged, now=started + 1, started_at=started).ok
    assert not judge(_hourly(), pinged, now=started + 301, started_at=started).ok


def test_before_the_first_ping_the_job_has_a_period_and_grace_from_the_start() -> None:
    """A check that never had a ping waits one period plus grace from watchd's start."""
    waiting = judge(_hourly(), None, now=T0 + HOUR, started_at=T0)
    assert waiting.ok
    assert waiting.message == "waiting for the first ping, due by 2026-11-30 03:05:00 UTC"
    late = judge(_hourly(), None, now=T0 + HOUR + 301, started_at=T0)
    assert late.message.endswith("none came since watchd started")


def test_a_failure_or_non_zero_exit_code_is_critical_at_once_until_a_success() -> None:
    """The last end being a failure is CRITICAL with its code; a later success clears it."""
    failed = PingRecord(success_at=T0, fail_at=T0 + 60, exit_code=3)
    verdict = judge(_hourly(), failed, now=T0 + 61, started_at=T0)
    assert not verdict.ok
    assert verdict.message == "the job reported a failure (exit code 3) at 2026-11-30 02:01:00 UTC"
    again = PingRecord(success_at=T0 + 120, fail_at=T0 + 60, exit_code=3)
    assert judge(_hourly(), again, now=T0 + 121, started_at=T0).ok


def test_a_started_job_must_end_within_grace() -> None:
    """After /start, the job has `grace` to send its success or failure."""
    running = PingRecord(success_at=T0, start_at=T0 + HOUR)
    assert judge(_hourly(), running, now=T0 + HOUR + 200, started_at=T0).ok
    stuck = judge(_hourly(), running, now=T0 + HOUR + 301, started_at=T0)
    assert stuck.message == (
        "the job started at 2026-11-30 03:00:00 UTC and has not ended (grace 5m)"
    )


def test_a_cron_schedule_is_due_at_its_next_time_in_its_zone() -> None:
    """`cron` expects the ping at the schedule's next time after the last, in `timezone`."""
    nightly = HeartbeatConfig.model_validate(
        {"cron": "30 3 * * *", "timezone": "Asia/Shanghai", "grace": "10m"}
    )
    # 03:30 in Shanghai is 19:30 UTC: pinged at 19:31 UTC on the 29th, next due 19:30 on the 30th.
    pinged = PingRecord(success_at=datetime(2026, 11, 29, 19, 31, tzinfo=UTC).timestamp())
    before = datetime(2026, 11, 30, 19, 39, tzinfo=UTC).timestamp()
    after = datetime(2026, 11, 30, 19, 41, tzinfo=UTC).timestamp()
    assert judge(nightly, pinged, now=before, started_at=pinged.success_at or 0).ok
    missed = judge(nightly, pinged, now=after, started_at=pinged.success_at or 0)
    assert missed.message.startswith("missed the ping due at 2026-11-30 19:30:00 UTC")


def test_a_runs_duration_is_from_its_start_to_its_success() -> None:
    """A success after a /start times the run; one without a start of its own does not."""
    assert run_duration(PingRecord(success_at=T0, start_at=T0 + 10), T0 + 70) == 60.0
    assert run_duration(PingRecord(success_at=T0 + 20, start_at=T0 + 10), T0 + 70) is None
    assert run_duration(PingRecord(), T0) is None


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"grace": "1m"}, "expected exactly one of 'period' or 'cron'"),
        ({"period": "1h", "cron": "0 3 * * *"}, "expected exactly one of 'period' or 'cron'"),
        ({"cron": "0 25 * * *"}, "expected a crontab line of 5 fields like '0 3 * * *'"),
        ({"period": "1h", "timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
    ],
)
def test_bad_schedules_are_refused_at_load(options: dict[str, object], said: str) -> None:
    """A heartbeat without exactly one schedule, a bad crontab or zone does not load."""
    with pytest.raises(ValidationError, match=said.replace("*", r"\*").replace("(", r"\(")):
        HeartbeatConfig.model_validate(options)
