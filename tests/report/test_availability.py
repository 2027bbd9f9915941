"""Availability arithmetic on hand-computed cases (DESIGN.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watchd.model import Status
from watchd.report.availability import Tally, merge_intervals, tally_buckets, tally_span
from watchd.store.samples import AvailabilitySample

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def run(
    start: float, end: float, *, down: tuple[float, float] | None = None, every: float = MIN
) -> list[AvailabilitySample]:
    """A sample every `every` seconds in [start, end), CRITICAL inside `down`, else OK."""
    out = []
    t = start
    while t < end:
        failing = down is not None and down[0] <= t < down[1]
        status = Status.CRITICAL if failing else Status.OK
        out.append(AvailabilitySample("web1", "http", t, int(status), 0.1))
        t += every
    return out


def test_an_outage_spanning_midnight_is_split_between_the_two_days() -> None:
    """Downtime from 23:30 to 00:20 counts 30 min on the first day and 20 min on the second, one failure."""
    samples = run(
        ts("2026-10-14T23:00:00"),
        ts("2026-10-15T01:00:00"),
        down=(ts("2026-10-14T23:30:00"), ts("2026-10-15T00:20:00")),
    )
    days = tally_buckets(
        samples, start=ts("2026-10-14"), end=ts("2026-10-16"), bucket=DAY, max_gap=2 * MIN
    )
    (d1, first), (d2, second) = days
    assert (d1, d2) == (ts("2026-10-14"), ts("2026-10-15"))
    assert (first.up, first.down, first.failures) == (30 * MIN, 30 * MIN, 1)
    assert first.unmonitored == 23 * HOUR  # the check did not exist before 23:00
    # The last sample, at 00:59, holds for 2 min: up until 01:01.
    assert (second.down, second.up, second.failures) == (20 * MIN, 41 * MIN, 0)
    assert second.unmonitored == DAY - 61 * MIN
    assert first.total == second.total == DAY


def test_an_outage_across_a_month_boundary_counts_in_both_months() -> None:
    """October gets 10 minutes of the outage that starts at 23:50 on the 31st, November 15."""
    samples = run(
        ts("2026-10-31T23:00:00"),
        ts("2026-11-01T01:00:00"),
        down=(ts("2026-10-31T23:50:00"), ts("2026-11-01T00:15:00")),
    )
    october = tally_span(samples, start=ts("2026-10-01"), end=ts("2026-11-01"), max_gap=2 * MIN)
    november = tally_span(samples, start=ts("2026-11-01"), end=ts("2026-12-01"), max_gap=2 * MIN)
    assert (october.up, october.down, october.failures) == (50 * MIN, 10 * MIN, 1)
    assert (november.down, november.failures) == (15 * MIN, 0)
    assert october.availability("exclude") == pytest.approx(50 / 60)


@pytest.mark.parametrize(
    ("policy", "availability"),
    [("up", 50 / 60), ("exclude", 30 / 40), ("down", 30 / 60)],
)
def test_maintenance_overlapping_an_outage_follows_the_policy(
    policy: str, availability: float
) -> None:
    """Up 0–20, down 20–40, up 40–60 with maintenance 30–50: 20 min of maintenance, 10 of downtime."""
    start = ts("2026-10-01T10:00:00")
    samples = run(start, start + HOUR + MIN, down=(start + 20 * MIN, start + 40 * MIN))
    window = merge_intervals([(start + 30 * MIN, start + 50 * MIN)])
    tally = tally_span(samples, start=start, end=start + HOUR, max_gap=2 * MIN, maintenance=window)
    assert (tally.up, tally.down, tally.maintenance, tally.unmonitored) == (
        30 * MIN,
        10 * MIN,
        20 * MIN,
        0.0,
    )
    assert tally.availability(policy) == pytest.approx(availability)  # type: ignore[arg-type]


def test_an_hour_with_watchd_down_is_unmonitored_and_never_up() -> None:
    """No samples from 10:00 to 11:00: the 09:59 sample holds until 10:01, the next 59 min are unmonitored."""
    day = ts("2026-10-01")
    samples = [
        s
        for s in run(day, day + DAY)
        if not ts("2026-10-01T10:00") <= s.time < ts("2026-10-01T11:00")
    ]
    tally = tally_span(samples, start=day, end=day + DAY, max_gap=2 * MIN)
    assert tally.unmonitored == 59 * MIN
    assert tally.up == DAY - 59 * MIN
    assert tally.availability("exclude") == 1.0


def test_an_item_added_mid_month_is_unmonitored_before_its_first_sample() -> None:
    """A check first run on the 16th is unmonitored for the first 15 days of the month."""
    samples = run(ts("2026-10-16"), ts("2026-11-01"), every=5 * MIN)
    tally = tally_span(samples, start=ts("2026-10-01"), end=ts("2026-11-01"), max_gap=10 * MIN)
    assert tally.unmonitored == 15 * DAY
    assert tally.up == 16 * DAY
    assert tally.checks == 16 * 288


def test_unknown_time_is_shown_and_left_out_of_availability() -> None:
    """UNKNOWN results count as unknown seconds, neither up nor down."""
    start = ts("2026-10-01")
    samples = [
        AvailabilitySample("a", "c", start, int(Status.OK), None),
        AvailabilitySample("a", "c", start + MIN, int(Status.UNKNOWN), None),
        AvailabilitySample("a", "c", start + 2 * MIN, int(Status.CRITICAL), None),
    ]
    tally = tally_span(samples, start=start, end=start + 3 * MIN, max_gap=2 * MIN)
    assert (tally.up, tally.unknown, tally.down, tally.failures) == (MIN, MIN, MIN, 1)
    assert tally.availability("exclude") == 0.5


def test_latency_average_max_and_p95_come_from_the_samples() -> None:
    """Latency figures of a span are the mean, maximum and nearest-rank 95th percentile."""
    start = ts("2026-10-01")
    samples = [AvailabilitySample("a", "c", start + i * MIN, 0, float(i + 1)) for i in range(20)]
    tally = tally_span(samples, start=start, end=start + HOUR, max_gap=2 * MIN)
    assert tally.latency_avg == pytest.approx(10.5)
    assert (tally.latency_max, tally.latency_p95) == (20.0, 19.0)
    assert tally + Tally() == tally
