"""watchd.crontab: every `cron` key (heartbeats, maintenance windows) means what crontab(5)
says, through one parser."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from watchd.crontab import check_crontab, cron_times
from watchd.heartbeats import HeartbeatConfig, PingRecord, judge
from watchd.maintenance import MaintenanceWindow

BERLIN = ZoneInfo("Europe/Berlin")


def days(line: str, count: int = 3) -> list[str]:
    """The first runs after Tue 2026-12-01 00:00 Berlin, as 'Sun 06'."""
    start = datetime(2026, 12, 1, tzinfo=BERLIN).timestamp()
    return [
        datetime.fromtimestamp(at, BERLIN).strftime("%a %d")
        for at in islice(cron_times(line, BERLIN, start), count)
    ]


@pytest.mark.parametrize("line", ["0 3 * * 0", "0 3 * * 7", "0 3 * * sun"])
def test_day_of_week_0_and_7_are_sunday(line: str) -> None:
    """0, 7 and `sun` all mean Sunday, as in crontab(5) (APScheduler's from_crontab read 0 as
    Monday and refused 7)."""
    assert days(line) == ["Sun 06", "Sun 13", "Sun 20"]


def test_a_day_of_month_and_a_day_of_week_match_either_day() -> None:
    """`0 2 1 * sun` runs on the 1st and on every Sunday, not only on Sundays that are the 1st."""
    assert days("0 2 1 * sun", 4) == ["Tue 01", "Sun 06", "Sun 13", "Sun 20"]


def test_runs_are_strictly_after_the_given_time() -> None:
    """A time on the schedule is not its own next run; a moment before it is."""
    three = datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp()
    assert next(cron_times("0 3 * * *", ZoneInfo("UTC"), three)) == three + 86400
    assert next(cron_times("0 3 * * *", ZoneInfo("UTC"), three - 0.5)) == three


@pytest.mark.parametrize("line", ["0 3 * * *", "*/5 * * * mon-fri", "@daily", "@weekly"])
def test_crontab_lines_and_nicknames_are_accepted(line: str) -> None:
    """Five-field lines and the @-nicknames load."""
    assert check_crontab(line) == line


@pytest.mark.parametrize("line", ["0 25 * * *", "not cron", "0 3 * * * *", "0 3 * *", "@often"])
def test_other_lines_are_refused_saying_what_a_crontab_line_is(line: str) -> None:
    """Bad fields, six fields (seconds) or four, and unknown nicknames are refused at load,
    with an example of a good line."""
    with pytest.raises(
        ValueError, match=r"expected a crontab line of 5 fields like '0 3 \* \* \*'"
    ):
        check_crontab(line)


def test_a_sunday_heartbeat_is_due_on_sunday() -> None:
    """A weekly job with `cron = "0 3 * * 0"` that pinged last Sunday is due next Sunday 03:00,
    not on Monday (it was Monday with APScheduler's parser: a missed Sunday run went unseen
    for a day)."""
    weekly = HeartbeatConfig.model_validate({"cron": "0 3 * * 0", "grace": "10m"})
    last_sunday = datetime(2026, 11, 29, 3, 1, tzinfo=UTC).timestamp()
    assert weekly.next_due(last_sunday) == datetime(2026, 12, 6, 3, tzinfo=UTC).timestamp()
    pinged = PingRecord(success_at=last_sunday)
    sunday_late = datetime(2026, 12, 6, 3, 11, tzinfo=UTC).timestamp()
    assert not judge(weekly, pinged, now=sunday_late, started_at=last_sunday).ok


def test_maintenance_and_heartbeats_refuse_the_same_lines() -> None:
    """A line one `cron` key refuses, the other refuses too, with the same words."""
    for build in (
        lambda line: HeartbeatConfig.model_validate({"cron": line}),
        lambda line: MaintenanceWindow.model_validate(
            {"name": "m", "items": ["a"], "cron": line, "duration": "1h"}
        ),
    ):
        with pytest.raises(ValidationError, match="expected a crontab line of 5 fields"):
            build("0 3 * * * *")
