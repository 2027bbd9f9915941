"""Cron schedules: the one parser (croniter) behind every `cron` key, a heartbeat's expected
pings and a maintenance window's runs.

The lines mean what crontab(5) says: 5 fields (or `@daily`, `@weekly`, ...), day of week 0 or
7 for Sunday, and a day of month and a day of week both restricted match either day
(`0 2 1 * sun`: the 1st and every Sunday). APScheduler's `CronTrigger.from_crontab`, once used
for heartbeats, reads day-of-week numbers from Monday (`0 3 * * 0` fired on Mondays), refuses
7 and requires both days, so watchd does not parse cron with it.

Times are wall times in the schedule's zone: a time that clocks going back repeat comes twice,
and one inside a skipped hour runs when the clock jumps past it (croniter 6.1 and later).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import AfterValidator


def check_crontab(value: str) -> str:
    """`value` if it is a crontab line, else a ValueError saying what one looks like."""
    fields = value.split()
    nickname = len(fields) == 1 and value.startswith("@")
    if not (len(fields) == 5 or nickname) or not croniter.is_valid(value):
        # The config error adds "(got '...')" after this.
        raise ValueError(
            "expected a crontab line of 5 fields like '0 3 * * *', or @daily, @weekly, ..."
        )
    return value


Crontab = Annotated[str, AfterValidator(check_crontab)]
"""A config key holding a crontab line, checked at load."""


def cron_times(line: str, zone: ZoneInfo, after: float) -> Iterator[float]:
    """The schedule's run times (epoch seconds) strictly after `after`, in order, without end.

    `line` must have passed `check_crontab`.
    """
    runs = croniter(line, datetime.fromtimestamp(after, zone))
    while True:
        yield float(runs.get_next(datetime).timestamp())
