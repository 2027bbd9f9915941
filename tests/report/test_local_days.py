"""Daily rollups on the operator's local days (`[daemon] timezone`): a local month older than
hourly_retention reads exactly from daily rows, on SQLite and PostgreSQL, across a DST change;
the status page's bars are the report's days; a zone change keeps the days already rolled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import select

from watchd.clock import FakeClock
from watchd.model import Status
from watchd.report.build import build_report
from watchd.report.catalog import Catalog
from watchd.report.config import ReportConfig, ServiceConfig
from watchd.report.period import Period
from watchd.report.rollup import Rollup
from watchd.report.status import daily_history
from watchd.store import AvailabilitySample, Store
from watchd.store.rollup_tables import rollup_days, rollups_hourly

from .conftest import ts

STEP = 300.0
H = 3600.0
SHOP = ServiceConfig(name="shop", checks=["web1/*"], availability="all")


def catalog(zone: str) -> Catalog:
    key = ("web1", "http")
    return Catalog(
        report=ReportConfig(hourly_retention="2d"),
        labels={key: {"item": "web1", "check": "http"}},
        intervals={key: STEP},
        default_interval=STEP,
        services=(SHOP,),
        timezone=zone,
    )


@pytest.fixture
async def store(
    fresh_db_url: str,
) -> AsyncIterator[Store]:
    """An empty, migrated store."""
    opened = await Store.open(fresh_db_url, clock=FakeClock(0))
    yield opened
    await opened.close()


@dataclass(frozen=True)
class History:
    start: str
    end: str
    down: Sequence[tuple[str, str]]  # UTC


async def roll_long_ago(store: Store, history: History, zone: str, now: float) -> FakeClock:
    """web1/http every 5 minutes over the history, rolled up in `zone`; at `now` its hours
    and raw samples are gone (hourly_retention 2d, raw samples as [store] retention drops
    them), so only daily rows remain of the history."""
    down = [(ts(a), ts(b)) for a, b in history.down]
    t = ts(history.start)
    while t < ts(history.end):
        failing = any(a <= t < b for a, b in down)
        status = Status.CRITICAL if failing else Status.OK
        store.record_sample(AvailabilitySample("web1", "http", t, int(status), 0.01))
        t += STEP
    await store.flush()
    clock = FakeClock(now)
    cat = catalog(zone)
    await Rollup(store.engine, clock=clock, catalog=lambda: cat, max_hours=100_000).run()
    await store.prune_samples(ts(history.end))
    async with store.engine.connect() as conn:
        oldest = (await conn.execute(select(rollups_hourly.c.start).limit(1))).scalar()
    assert oldest is None or oldest >= ts(history.end)
    return clock


async def test_a_shanghai_month_older_than_the_hourly_rollups_is_exact(store: Store) -> None:
    """October in Asia/Shanghai, read back weeks later from daily rows only: the 2 h down on its
    first local morning and the 4 h on its last evening (and not the 2 h after its local
    midnight) give 738 of 744 hours, 22/24 and 20/24 on those days, nothing unmonitored; the
    status page's bars are the report's days."""
    history = History(
        "2026-09-29",
        "2026-11-03",
        [("2026-09-30T14:00", "2026-09-30T18:00"), ("2026-10-31T12:00", "2026-10-31T18:00")],
    )
    now = ts("2026-11-10T12:00")
    await roll_long_ago(store, history, "Asia/Shanghai", now)
    cat = catalog("Asia/Shanghai")
    period = Period.month("2026-10", "Asia/Shanghai")
    report = await build_report(store.engine, cat, period, now=now)
    (web,) = report["checks"]
    assert web["seconds"]["unmonitored"] == 0
    assert web["downtime_seconds"] == 6 * H
    assert web["availability_percent"] == round(738 / 744 * 100, 4)
    (shop,) = report["services"]
    assert shop["availability_percent"] == web["availability_percent"]
    days = {d["date"]: d["availability_percent"] for d in shop["daily"]}
    assert len(days) == 31
    assert days["2026-10-01"] == round(22 / 24 * 100, 4)
    assert days["2026-10-31"] == round(20 / 24 * 100, 4)
    assert set(days.values()) - {days["2026-10-01"], days["2026-10-31"]} == {100.0}
    assert report["period"]["days_cut_in_other_zones"] == []
    async with store.engine.connect() as conn:
        bars = await daily_history(conn, cat, [SHOP], days=90, now=now)
    shown = {d.date: d.availability_percent for d in bars["shop"].days}
    assert {date: shown[date] for date in days} == days


async def test_a_berlin_month_across_the_dst_change_counts_its_25_hour_day(store: Store) -> None:
    """October 2026 in Europe/Berlin (clocks go back on the 25th) read from daily rows only:
    745 hours, down 1 h after its first local midnight and 1 h in the repeated hour of the
    25th (a 25-hour day: 24/25), not in the hour after its end; the bars match."""
    history = History(
        "2026-09-29",
        "2026-11-03",
        [
            ("2026-09-30T22:00", "2026-09-30T23:00"),  # Oct 1 00:00-01:00 CEST
            ("2026-10-25T00:30", "2026-10-25T01:30"),  # 02:30 CEST .. 02:30 CET
            ("2026-10-31T23:00", "2026-11-01T00:00"),  # Nov 1 00:00-01:00 CET
        ],
    )
    now = ts("2026-11-10T12:00")
    await roll_long_ago(store, history, "Europe/Berlin", now)
    cat = catalog("Europe/Berlin")
    report = await build_report(
        store.engine, cat, Period.month("2026-10", "Europe/Berlin"), now=now
    )
    (web,) = report["checks"]
    assert web["seconds"]["unmonitored"] == 0
    assert web["downtime_seconds"] == 2 * H
    assert web["seconds"]["up"] == 743 * H
    days = {d["date"]: d["availability_percent"] for d in report["services"][0]["daily"]}
    assert days["2026-10-01"] == round(23 / 24 * 100, 4)
    assert days["2026-10-25"] == 96.0
    assert days["2026-10-31"] == 100.0
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(rollup_days).order_by(rollup_days.c.start))).all()
        bars = await daily_history(conn, cat, [SHOP], days=90, now=now)
    lengths = {round((b - a) / H) for a, b, _ in stored}
    assert lengths == {23, 24, 25} or lengths == {24, 25}
    shown = {d.date: d.availability_percent for d in bars["shop"].days}
    assert {date: shown[date] for date in days} == days


async def test_a_zone_change_cuts_the_days_not_yet_rolled_and_keeps_the_rest(
    store: Store,
) -> None:
    """Rolled in UTC until Oct 10, then in Asia/Shanghai: the UTC days stay, Oct 10 00:00-16:00
    UTC is one 16-hour day of the new zone, local days follow; once the hourly rows are gone, a
    Shanghai report of Oct 1-19 names the UTC days and reads its local days Oct 1-10, which
    straddle them, as unmonitored, while a UTC report of those days stays exact."""
    down = [(ts("2026-10-05T03:00"), ts("2026-10-05T04:00"))]
    t = ts("2026-10-01")
    while t < ts("2026-10-20"):
        failing = any(a <= t < b for a, b in down)
        status = Status.CRITICAL if failing else Status.OK
        store.record_sample(AvailabilitySample("web1", "http", t, int(status), 0.01))
        t += STEP
    await store.flush()
    clock = FakeClock(ts("2026-10-10T00:05"))
    current = {"catalog": catalog("UTC")}
    rollup = Rollup(store.engine, clock=clock, catalog=lambda: current["catalog"], max_hours=10_000)
    await rollup.run()
    current["catalog"] = catalog("Asia/Shanghai")
    await clock.advance(ts("2026-10-30") - clock.now())
    await rollup.run()
    await store.prune_samples(ts("2026-10-20"))
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(rollup_days).order_by(rollup_days.c.start))).all()
    assert [tuple(r) for r in stored[:10]] == [
        *((ts(f"2026-10-{d:02d}"), ts(f"2026-10-{d + 1:02d}"), "UTC") for d in range(1, 10)),
        (ts("2026-10-10"), ts("2026-10-10T16:00"), "Asia/Shanghai"),
    ]
    assert {r.end - r.start for r in stored[10:]} == {86400}
    now = clock.now()
    report = await build_report(
        store.engine,
        catalog("Asia/Shanghai"),
        Period.between("2026-10-01", "2026-10-20", "Asia/Shanghai"),
        now=now,
    )
    assert report["period"]["days_cut_in_other_zones"] == [
        {
            "timezone": "UTC",
            "from": "2026-10-01T08:00:00+08:00",
            "to": "2026-10-10T08:00:00+08:00",
        }
    ]
    (web,) = report["checks"]
    # Each of the local days Oct 1-9 straddles two UTC days, Oct 10 one UTC day for 8 hours.
    assert web["seconds"]["unmonitored"] == 9 * 24 * H + 8 * H
    assert web["downtime_seconds"] == 0
    utc = await build_report(
        store.engine, catalog("UTC"), Period.between("2026-10-01", "2026-10-10"), now=now
    )
    (web,) = utc["checks"]
    assert (web["seconds"]["unmonitored"], web["downtime_seconds"]) == (0, H)
    fragment = replace(Period.between("2026-10-10", "2026-10-10T16:00"), zone="UTC")
    (web,) = (await build_report(store.engine, catalog("UTC"), fragment, now=now))["checks"]
    assert web["seconds"]["unmonitored"] == 0
