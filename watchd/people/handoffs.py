"""Hand-offs: the shifts that bring someone on call, found between two looks at a schedule.

A hand-off is a shift (watchd.people.oncall.shifts) that starts within (since, now] and whose
user was not on call just before it: a rotation turn, an override, or the start of a
restricted layer's hours. The person it brings on call is told once per hand-off; which
hand-offs were told is the store's business (watchd.notify.handoffs), not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from watchd.i18n import translations
from watchd.people.config import ScheduleConfig
from watchd.people.model import Override
from watchd.people.oncall import on_call, shifts

# How far ahead the end of an incoming shift is looked for: a shift still running then is
# told as lasting until at least that far (rotations are a week or two at most in practice).
END_HORIZON = 35 * 86400.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Handoff:
    """`user` comes on call in `schedule` at `start` until `end` (UTC epoch seconds)."""

    schedule: str
    user: str
    start: float
    end: float


def handoffs(
    schedule: ScheduleConfig, since: float, now: float, overrides: Sequence[Override]
) -> list[Handoff]:
    """The hand-offs of `schedule` that happened in (since, now], in order."""
    found = []
    for shift in shifts(schedule, since, now + 1.0, overrides):
        if not since < shift.start <= now:
            continue  # running since before `since` (clipped to it), or not started yet
        if shift.user in on_call(schedule, shift.start - 1.0, overrides):
            continue  # the same person, only through another layer or an override
        end = _end(schedule, shift.user, shift.start, overrides)
        found.append(Handoff(schedule.name, shift.user, shift.start, end))
    return found


def _end(schedule: ScheduleConfig, user: str, start: float, overrides: Sequence[Override]) -> float:
    """When `user`'s time on call from `start` ends: the first moment they are not on call.

    Looked for a day ahead first, then four times as far up to END_HORIZON: the shifts of a
    short rotation over the whole horizon (a 30-minute one has 1,680) cost ~0.3 s, and each
    run of the hand-off job looks at the last hour's hand-offs again."""
    horizon = DAY
    while True:
        end = start
        for shift in shifts(schedule, start, start + horizon, overrides):
            if shift.start > end or shift.user != user:
                return end
            end = shift.end
        if horizon >= END_HORIZON:
            return end
        horizon = min(horizon * 4, END_HORIZON)


def local_times(handoff: Handoff, timezone: str) -> tuple[str, str]:
    """The shift's start and end as "YYYY-MM-DD HH:MM" in `timezone` (the person's)."""
    zone = ZoneInfo(timezone)
    start = datetime.fromtimestamp(handoff.start, zone)
    end = datetime.fromtimestamp(handoff.end, zone)
    return f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"


def notice_text(handoff: Handoff, timezone: str, locale: str = "en") -> str:
    """The notice's one sentence, in the time zone of the person it tells and in `locale`
    (the same message the receivers' notice templates translate)."""
    start, end = local_times(handoff, timezone)
    _ = translations(locale).gettext
    return _("You are on call for %(schedule)s from %(start)s to %(end)s (%(zone)s).") % {
        "schedule": handoff.schedule,
        "start": start,
        "end": end,
        "zone": timezone,
    }
