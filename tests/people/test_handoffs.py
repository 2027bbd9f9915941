"""Hand-offs: which shifts bring someone on call between two looks at a schedule, over DST
changes, overrides and restricted hours, on fixed instants (no real clock)."""

from __future__ import annotations

from tests.people.test_oncall import HOUR, daily, override, schedule, ts
from watchd.people.handoffs import END_HORIZON, Handoff, handoffs, notice_text

BERLIN = "Europe/Berlin"


def test_a_daily_hand_off_across_the_spring_dst_change_is_found_at_local_nine() -> None:
    """On the day Berlin springs forward, the 09:00 hand-off is found at 09:00 local (07:00 UTC), and its shift lasts the 24 hours to the next 09:00."""
    plan = schedule(BERLIN, daily("2026-03-28T09:00", ["alice", "bob"]))
    at = ts("2026-03-29T09:00", BERLIN)
    assert at == ts("2026-03-29T07:00:00+00:00")
    found = handoffs(plan, at - 60.0, at + 60.0, [])
    assert found == [Handoff("primary", "bob", at, ts("2026-03-30T09:00", BERLIN))]
    assert handoffs(plan, at - 120.0, at - 60.0, []) == []


def test_the_shift_spanning_the_autumn_change_is_told_as_twenty_five_hours() -> None:
    """The shift handed over on the Saturday before Berlin falls back ends at 09:00 local on Sunday, 25 hours later."""
    plan = schedule(BERLIN, daily("2026-10-24T09:00", ["alice", "bob"]))
    at = ts("2026-10-24T09:00", BERLIN)
    (found,) = handoffs(plan, at - 1.0, at, [])
    assert (found.user, found.end - found.start) == ("alice", 25 * HOUR)


def test_a_shift_running_before_the_window_is_no_hand_off() -> None:
    """The person already on call when watching starts is not told again: only shifts that start inside the window count."""
    plan = schedule("UTC", daily("2026-11-01T09:00", ["alice", "bob"]))
    now = ts("2026-11-02T12:00")
    assert handoffs(plan, now - HOUR, now, []) == []


def test_an_override_is_a_hand_off_and_its_end_hands_back() -> None:
    """Carol taking over for two hours is told so, and alice, on call again when it ends, is told too."""
    plan = schedule("UTC", daily("2026-11-01T09:00", ["alice"]))
    start, end = ts("2026-11-02T12:00"), ts("2026-11-02T14:00")
    swap = [override("carol", start, end)]
    found = handoffs(plan, start - HOUR, end + 1.0, swap)
    # alice alone in the rotation stays on call: her end is as far as the look ahead goes.
    assert found == [
        Handoff("primary", "carol", start, end),
        Handoff("primary", "alice", end, end + END_HORIZON),
    ]


def test_the_same_person_through_another_layer_is_not_told_again() -> None:
    """An override giving alice the schedule while she is on call anyway is no hand-off."""
    plan = schedule("UTC", daily("2026-11-01T09:00", ["alice", "bob"]))
    start = ts("2026-11-01T12:00")
    swap = [override("alice", start, start + HOUR)]
    assert handoffs(plan, start - HOUR, start + 1.0, swap) == []


def test_restricted_hours_bring_the_person_on_call_each_morning() -> None:
    """A business-hours layer over nobody tells its person each morning at 09:00 that they are on until 17:00."""
    hours = [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]
    plan = schedule("UTC", daily("2026-11-02T00:00", ["alice"], restrictions=hours))
    at = ts("2026-11-03T09:00")
    assert handoffs(plan, at - 60.0, at, []) == [
        Handoff("primary", "alice", at, ts("2026-11-03T17:00"))
    ]


def test_the_notice_speaks_the_time_zone_of_its_reader() -> None:
    """The notice gives the shift's start and end in the incoming person's own zone, naming it."""
    handoff = Handoff("primary", "bob", ts("2026-11-02T01:00"), ts("2026-11-03T01:00"))
    assert notice_text(handoff, "Asia/Shanghai") == (
        "You are on call for primary from 2026-11-02 09:00 to 2026-11-03 09:00 (Asia/Shanghai)."
    )
