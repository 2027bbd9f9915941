"""Who is on call: rotations with wall-clock hand-offs across DST changes and month ends,
layers, restrictions and overrides, on fixed instants (no real clock)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchd.people.config import ScheduleConfig
from watchd.people.model import Override, Shift
from watchd.people.oncall import gap_warnings, gaps, on_call, shifts

HOUR = 3600.0
DAY = 86400.0


def ts(text: str, zone: str = "UTC") -> float:
    """Epoch seconds of an ISO time, local to `zone` unless it carries an offset."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))).timestamp()


def schedule(zone: str, *layers: dict[str, Any]) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"name": "primary", "timezone": zone, "layers": layers})


def daily(start: str, users: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "daily", "users": users, "start": start, "rotation": "1d", **extra}


def override(user: str, start: float, end: float, created: float = 0.0, id: int = 1) -> Override:
    return Override(id, "primary", user, start, end, "carol", "swap", created)


def local_starts(found: list[Shift], zone: str) -> list[str]:
    return [datetime.fromtimestamp(s.start, ZoneInfo(zone)).strftime("%m-%d %H:%M") for s in found]


def test_a_daily_hand_off_stays_at_nine_local_across_berlins_spring_forward() -> None:
    """A daily 09:00 hand-off in Europe/Berlin stays at 09:00 local over 2026-03-29, whose
    shift is 23 hours long."""
    sched = schedule("Europe/Berlin", daily("2026-03-27T09:00", ["alice", "bob"]))
    found = shifts(
        sched, ts("2026-03-27T09:00", "Europe/Berlin"), ts("2026-03-31T09:00", "Europe/Berlin"), []
    )
    assert local_starts(found, "Europe/Berlin") == [
        "03-27 09:00",
        "03-28 09:00",
        "03-29 09:00",
        "03-30 09:00",
    ]
    assert [s.user for s in found] == ["alice", "bob", "alice", "bob"]
    assert [round((s.end - s.start) / HOUR) for s in found] == [24, 23, 24, 24]


def test_a_daily_hand_off_stays_at_nine_local_across_berlins_fall_back() -> None:
    """Over Europe/Berlin's 2026-10-25 fall-back the hand-off stays at 09:00 local and the
    shift that spans it lasts 25 hours."""
    sched = schedule("Europe/Berlin", daily("2026-10-01T09:00", ["alice", "bob", "carol"]))
    found = shifts(
        sched, ts("2026-10-24T09:00", "Europe/Berlin"), ts("2026-10-26T09:00", "Europe/Berlin"), []
    )
    assert local_starts(found, "Europe/Berlin") == ["10-24 09:00", "10-25 09:00"]
    assert [round((s.end - s.start) / HOUR) for s in found] == [25, 24]
    # 23 turns since 1 October: alice, bob, carol, ... turn 23 is carol's.
    assert [s.user for s in found] == ["carol", "alice"]


def test_a_weekly_rotation_in_new_york_keeps_its_monday_hand_off_over_both_dst_changes() -> None:
    """A weekly Monday 10:00 hand-off in America/New_York stays at 10:00 local around
    2026-03-08 and 2026-11-01, the weeks holding a change lasting 167 and 169 hours."""
    sched = schedule(
        "America/New_York",
        {"name": "weekly", "users": ["ann", "ben"], "start": "2026-01-05T10:00", "rotation": "1w"},
    )
    spring = shifts(
        sched,
        ts("2026-03-02T10:00", "America/New_York"),
        ts("2026-03-16T10:00", "America/New_York"),
        [],
    )
    assert local_starts(spring, "America/New_York") == ["03-02 10:00", "03-09 10:00"]
    assert [round((s.end - s.start) / HOUR) for s in spring] == [167, 168]
    autumn = shifts(
        sched,
        ts("2026-10-26T10:00", "America/New_York"),
        ts("2026-11-09T10:00", "America/New_York"),
        [],
    )
    assert [round((s.end - s.start) / HOUR) for s in autumn] == [169, 168]
    assert on_call(sched, ts("2026-11-01T01:30-04:00"), []) == on_call(
        sched, ts("2026-11-01T01:30-05:00"), []
    )


def test_turns_follow_the_calendar_over_month_ends_and_a_leap_day() -> None:
    """A 2-day rotation counts turns on the wall clock across month ends (Jan 31, Feb 28/29)."""
    sched = schedule(
        "Asia/Shanghai",
        {"name": "two", "users": ["a", "b"], "start": "2028-01-30T08:00", "rotation": "2d"},
    )
    found = shifts(
        sched, ts("2028-01-30T08:00", "Asia/Shanghai"), ts("2028-03-03T08:00", "Asia/Shanghai"), []
    )
    assert local_starts(found, "Asia/Shanghai")[:2] == ["01-30 08:00", "02-01 08:00"]
    assert local_starts(found, "Asia/Shanghai")[-3:] == [
        "02-27 08:00",
        "02-29 08:00",
        "03-02 08:00",
    ]
    # Turn 15 starts on the leap day (b's), turn 16 on 2 March (a's).
    assert on_call(sched, ts("2028-02-29T12:00", "Asia/Shanghai"), []) == ("b",)
    assert on_call(sched, ts("2028-03-02T07:59", "Asia/Shanghai"), []) == ("b",)
    assert on_call(sched, ts("2028-03-02T08:00", "Asia/Shanghai"), []) == ("a",)


def test_nobody_is_on_call_before_the_first_hand_off() -> None:
    """A layer starts covering at its first hand-off, not before."""
    sched = schedule("UTC", daily("2026-12-01T09:00", ["alice"]))
    assert on_call(sched, ts("2026-12-01T08:59"), []) == ()
    assert on_call(sched, ts("2026-12-01T09:00"), []) == ("alice",)


def test_a_later_layer_wins_within_its_restrictions_and_the_lower_shows_through_outside() -> None:
    """A business-hours layer over a 24x7 one: office hours go to the upper layer, nights and
    weekends to the lower one."""
    sched = schedule(
        "Europe/Berlin",
        daily("2026-11-02T00:00", ["night"]),
        {
            "name": "office",
            "users": ["day"],
            "start": "2026-11-02T00:00",
            "rotation": "1w",
            "restrictions": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
            ],
        },
    )
    found = shifts(
        sched, ts("2026-11-06T00:00", "Europe/Berlin"), ts("2026-11-08T00:00", "Europe/Berlin"), []
    )
    assert [(s.user, s.layer) for s in found] == [
        ("night", "daily"),
        ("day", "office"),
        ("night", "daily"),
    ]
    assert local_starts(found, "Europe/Berlin") == ["11-06 00:00", "11-06 09:00", "11-06 18:00"]
    assert found[-1].end == ts("2026-11-08T00:00", "Europe/Berlin")


def test_an_overnight_restriction_runs_into_the_next_day() -> None:
    """A restriction from 22:00 to 06:00 on Friday covers Friday night into Saturday morning."""
    sched = schedule(
        "UTC",
        {
            "name": "nights",
            "users": ["owl"],
            "start": "2026-11-02T00:00",
            "rotation": "1w",
            "restrictions": [{"days": ["fri"], "from": "22:00", "to": "06:00"}],
        },
    )
    assert on_call(sched, ts("2026-11-06T21:59"), []) == ()
    assert on_call(sched, ts("2026-11-07T05:59"), []) == ("owl",)
    assert on_call(sched, ts("2026-11-07T06:00"), []) == ()
    assert gaps(sched, ts("2026-11-06T00:00"), ts("2026-11-08T00:00")) == [
        (ts("2026-11-06T00:00"), ts("2026-11-06T22:00")),
        (ts("2026-11-07T06:00"), ts("2026-11-08T00:00")),
    ]


def test_an_override_replaces_whoever_is_on_call_and_the_newest_wins() -> None:
    """An override beats every layer for its time; of two overlapping overrides the one
    created last wins; overrides of another schedule change nothing."""
    sched = schedule("UTC", daily("2026-11-01T09:00", ["alice", "bob"]))
    first = override("carol", ts("2026-11-02T12:00"), ts("2026-11-02T18:00"), created=1.0, id=1)
    second = override("dave", ts("2026-11-02T15:00"), ts("2026-11-02T16:00"), created=2.0, id=2)
    other = Override(3, "secondary", "eve", 0.0, 2e9, "x", "y", 3.0)
    found = shifts(sched, ts("2026-11-02T09:00"), ts("2026-11-03T09:00"), [second, first, other])
    assert [(s.user, s.layer) for s in found] == [
        ("bob", "daily"),
        ("carol", "override"),
        ("dave", "override"),
        ("carol", "override"),
        ("bob", "daily"),
    ]
    assert on_call(sched, ts("2026-11-02T15:30"), [first, second]) == ("dave",)


def test_a_single_person_rotation_is_one_shift_not_one_per_turn() -> None:
    """Consecutive turns of the same person read as one shift."""
    sched = schedule("UTC", daily("2026-11-01T09:00", ["alice"]))
    found = shifts(sched, ts("2026-11-01T09:00"), ts("2026-11-08T09:00"), [])
    assert found == [Shift("alice", ts("2026-11-01T09:00"), ts("2026-11-08T09:00"), "daily")]


ZONES = st.sampled_from(
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)


@settings(max_examples=60, deadline=None)
@given(
    zone=ZONES,
    rotation=st.sampled_from(["1h", "8h", "12h", "1d", "3d", "1w"]),
    hour=st.integers(0, 23),
    offset=st.floats(0, 400 * DAY),
    span=st.floats(HOUR, 30 * DAY),
    night=st.booleans(),
)
def test_shifts_tile_the_range_and_agree_with_on_call(
    zone: str, rotation: str, hour: int, offset: float, span: float, night: bool
) -> None:
    """Shifts are ordered, disjoint, inside the range, cover all but the gaps, and on_call at
    any instant names the person whose shift holds it (DST changes and month ends included)."""
    restrictions = (
        [{"days": ["mon", "wed", "sat"], "from": "20:00", "to": "07:30"}] if night else []
    )
    sched = schedule(
        zone,
        daily(f"2026-01-01T{hour:02d}:00", ["a", "b", "c"]) | {"rotation": rotation},
        {
            "name": "top",
            "users": ["x", "y"],
            "start": "2026-02-01T09:00",
            "rotation": rotation,
            "restrictions": restrictions,
        },
    )
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + offset
    end = start + span
    found = shifts(sched, start, end, [])
    holes = gaps(sched, start, end)
    assert all(s.start < s.end for s in found)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert sum(s.end - s.start for s in found) + sum(b - a for a, b in holes) == pytest.approx(span)
    for s in found:
        for at in (s.start, (s.start + s.end) / 2):
            assert on_call(sched, at, []) == (s.user,)


def test_a_schedule_with_nobody_on_call_gets_a_warning_listing_the_gaps() -> None:
    """check-config's warning names the schedule, the hours uncovered in the next 4 weeks and
    the first gaps in local time; a schedule covered around the clock gets none."""
    office = schedule(
        "Europe/Berlin",
        daily("2026-11-30T09:00", ["alice"])
        | {
            "restrictions": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "18:00"}
            ]
        },
    )
    (warning,) = gap_warnings([office], ts("2026-11-30T09:00", "Europe/Berlin"))
    assert warning.startswith(
        'schedules[0]("primary"): nobody is on call for 492 h of the next 4 weeks: '
        "2026-11-30T18:00+01:00 .. 2026-12-01T09:00+01:00, "
    )
    assert " and 15 more; add a layer or widen the restrictions" in warning
    always = schedule("Europe/Berlin", daily("2026-11-01T09:00", ["alice", "bob"]))
    assert gap_warnings([always], ts("2026-11-30T09:00", "Europe/Berlin")) == []


def test_restrictions_on_dst_days_run_from_wall_time_to_wall_time() -> None:
    """A restriction starting in the hour Berlin's spring-forward skips starts an hour later on
    the new clock (02:30 is 03:30 CEST); one over the repeated hour of the fall-back runs from
    its first 02:00 to 03:00 on the winter clock, two hours."""

    def sunday(start: str, range_from: str, range_to: str) -> ScheduleConfig:
        restriction = {"days": ["sun"], "from": range_from, "to": range_to}
        return schedule(
            "Europe/Berlin",
            daily(start, ["owl"]) | {"rotation": "1w", "restrictions": [restriction]},
        )

    spring = sunday("2026-03-23T00:00", "02:30", "04:00")
    assert on_call(spring, ts("2026-03-29T01:29Z"), []) == ()
    assert on_call(spring, ts("2026-03-29T01:30Z"), []) == ("owl",)
    (shift,) = shifts(spring, ts("2026-03-29T00:00Z"), ts("2026-03-30T00:00Z"), [])
    assert (shift.start, shift.end) == (ts("2026-03-29T03:30+02:00"), ts("2026-03-29T04:00+02:00"))
    autumn = sunday("2026-10-19T00:00", "02:00", "03:00")
    (shift,) = shifts(autumn, ts("2026-10-25T00:00Z"), ts("2026-10-26T00:00Z"), [])
    assert (shift.start, shift.end) == (ts("2026-10-25T02:00+02:00"), ts("2026-10-25T03:00+01:00"))
    assert shift.end - shift.start == 2 * HOUR
