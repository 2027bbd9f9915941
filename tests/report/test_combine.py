"""Service availability by its declared rule: "all" (down when any member is down), "any"
(down only when every member is down) and "weighted" (the members' mean), in exact seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from watchd.clock import FakeClock
from watchd.loading import report_catalog
from watchd.model import Status
from watchd.report.availability import DOWN, UNKNOWN, UP
from watchd.report.build import build_report
from watchd.report.combine import (
    MAINTENANCE,
    UNMONITORED,
    combine,
    combined_state,
    tally_segments,
    timeline,
)
from watchd.report.period import Period
from watchd.report.rollup import Rollup
from watchd.store import AvailabilitySample, Store

from .conftest import config_of, ts

MIN = 60.0
HOUR = 3600.0


def samples(
    check: str, start: float, end: float, down: list[tuple[float, float]] = ()
) -> list[AvailabilitySample]:
    """A sample of `check` every minute in [start, end), CRITICAL inside the `down` spans."""
    out = []
    t = start
    while t < end:
        failing = any(a <= t < b for a, b in down)
        status = Status.CRITICAL if failing else Status.OK
        out.append(AvailabilitySample("web", check, t, int(status), 0.01))
        t += MIN
    return out


def test_one_of_two_checks_down_half_the_time_is_50_all_100_any() -> None:
    """One of two checks down for the first 30 minutes of an hour: "all" is down 1800 s (50 %),
    "any" is never down (100 %), and the members' mean (weighted) would be 75 %."""
    a = timeline(samples("a", 0, HOUR, [(0, 1800)]), start=0, end=HOUR, max_gap=2 * MIN)
    b = timeline(samples("b", 0, HOUR), start=0, end=HOUR, max_gap=2 * MIN)
    every = tally_segments(combine([a, b], "all"), 0, HOUR)
    either = tally_segments(combine([a, b], "any"), 0, HOUR)
    assert (every.up, every.down, every.availability("exclude")) == (1800, 1800, 0.5)
    assert (either.up, either.down, either.availability("exclude")) == (HOUR, 0, 1.0)
    mean = (tally_segments(a, 0, HOUR).up + tally_segments(b, 0, HOUR).up) / (2 * HOUR)
    assert mean == 0.75


def test_all_is_the_union_and_any_the_intersection_of_the_members_downtime() -> None:
    """Downs 10:00-10:20 and 10:10-10:40: "all" is down 40 min with one failure, "any" 10 min."""
    a = timeline(samples("a", 0, HOUR, [(0, 20 * MIN)]), start=0, end=HOUR, max_gap=2 * MIN)
    b = timeline(
        samples("b", -HOUR, HOUR, [(10 * MIN, 40 * MIN)]), start=0, end=HOUR, max_gap=2 * MIN
    )
    every = tally_segments(combine([a, b], "all"), 0, HOUR)
    either = tally_segments(combine([a, b], "any"), 0, HOUR)
    assert (every.down, every.failures) == (40 * MIN, 0)  # down from the first instant
    assert (either.down, either.up) == (10 * MIN, 50 * MIN)
    shifted = [
        timeline(samples("a", 0, HOUR, [(5 * MIN, 20 * MIN)]), start=0, end=HOUR, max_gap=120),
        b,
    ]
    assert tally_segments(combine(shifted, "all"), 0, HOUR).failures == 1
    assert tally_segments(combine(shifted, "any"), 0, HOUR).failures == 1


def test_gaps_and_maintenance_are_neither_up_nor_down_for_the_service() -> None:
    """A member without samples makes "all" unmonitored (never up) unless another is down;
    maintenance is kept apart for the service's maintenance policy."""
    assert combined_state([UP, UNMONITORED], "all") == UNMONITORED
    assert combined_state([DOWN, UNMONITORED], "all") == DOWN
    assert combined_state([UP, UNMONITORED], "any") == UP
    assert combined_state([DOWN, MAINTENANCE], "any") == MAINTENANCE
    assert combined_state([DOWN, UNKNOWN], "any") == UNKNOWN
    assert combined_state([DOWN, DOWN], "any") == DOWN
    line = timeline(
        samples("a", 600, 1200), start=0, end=HOUR, max_gap=120, maintenance=[(900, 1000)]
    )
    assert line == [
        (0, 600, UNMONITORED),
        (600, 900, UP),
        (900, 1000, MAINTENANCE),
        (1000, 1200 - 60 + 120, UP),
        (1260, HOUR, UNMONITORED),
    ]


RAW = {
    "check_defaults": {"interval": "1m"},
    "items": [
        {
            "name": "web",
            "checks": [
                {"name": "a", "kind": "tcp", "port": 80},
                {"name": "b", "kind": "tcp", "port": 81},
            ],
        }
    ],
    "services": [
        {"name": "all", "checks": ["web/*"], "availability": "all"},
        {"name": "any", "checks": ["web/*"], "availability": "any"},
        {"name": "weighted", "checks": ["web/*"], "availability": "weighted"},
        {"name": "default", "checks": ["web/*"]},
    ],
}
DAY0 = ts("2026-10-05")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """Two days of web/a (down 00:00-12:00 each day) and web/b (always up), every minute."""
    store = await Store.open(f"sqlite:///{tmp_path}/c.db", clock=FakeClock(DAY0))
    for day in (DAY0, DAY0 + 86400):
        for sample in samples("a", day, day + 86400, [(day, day + 43200)]):
            store.record_sample(sample)
        for sample in samples("b", day, day + 86400):
            store.record_sample(sample)
    await store.flush()
    yield store
    await store.close()


async def test_reports_give_each_rule_its_availability_from_rollups_and_raw_samples(
    store: Store,
) -> None:
    """Over two days, the first rolled up and the second still raw: "all" 50 %, "any" 100 %,
    "weighted" 75 %, and a service without a rule is "all"; the first day alone agrees."""
    catalog = report_catalog(config_of(RAW))
    clock = FakeClock(DAY0 + 86400 + 600)
    assert await Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=100).run()
    period = Period.between("2026-10-05", "2026-10-07")
    report = await build_report(store.engine, catalog, period, now=DAY0 + 2 * 86400)
    by_name = {s["name"]: s for s in report["services"]}
    assert {n: s["availability_percent"] for n, s in by_name.items()} == {
        "all": 50.0,
        "any": 100.0,
        "weighted": 75.0,
        "default": 50.0,
    }
    assert by_name["all"]["downtime_seconds"] == 86400
    assert by_name["all"]["failures"] == 1  # day 2's outage; day 1's began with the data
    assert by_name["all"]["availability_rule"] == "all"
    assert by_name["any"]["downtime_seconds"] == 0
    assert [d["availability_percent"] for d in by_name["all"]["daily"]] == [50.0, 50.0]
    assert [c["check"] for c in report["checks"]] == ["a", "b"]  # no service series among them


async def test_hours_rolled_before_a_service_had_its_rule_are_combined_from_kept_samples(
    store: Store,
) -> None:
    """The first day was rolled up while no service was configured (as before availability
    rules existed); once they are, the next rollup run combines that day again from the raw
    samples still kept: "all" reads 50 % on both days, from daily rows."""
    clock = FakeClock(DAY0 + 86400 + 600)
    before = report_catalog(config_of({**RAW, "services": []}))
    assert await Rollup(store.engine, clock=clock, catalog=lambda: before, max_hours=100).run()
    catalog = report_catalog(config_of(RAW))
    await Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=100).run()
    report = await build_report(
        store.engine, catalog, Period.between("2026-10-05", "2026-10-06"), now=DAY0 + 86400
    )
    every = next(s for s in report["services"] if s["name"] == "all")
    assert (every["availability_percent"], every["downtime_seconds"]) == (50.0, 43200)
    assert every["seconds"]["unmonitored"] == 0
    again = Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=100)
    await again.run()  # the series exist now: nothing is written twice
    twice = await build_report(
        store.engine, catalog, Period.between("2026-10-05", "2026-10-06"), now=DAY0 + 86400
    )
    assert twice["services"] == report["services"]
