"""Rollups: incremental hourly and daily rows that add up to the raw computation; retention."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from watchd.clock import FakeClock
from watchd.report.availability import tally_span
from watchd.report.catalog import Catalog
from watchd.report.config import ReportConfig
from watchd.report.query import tallies
from watchd.report.rollup import DAY, HOUR, Rollup, load_watermark
from watchd.store import AvailabilitySample, Store
from watchd.store.rollup_tables import rollups_daily, rollups_hourly

DAY0 = 1_790_812_800.0  # 2026-10-01T00:00:00Z
GAP = 150.0
CATALOG = Catalog(report=ReportConfig(max_sample_gap=GAP))

steps = st.lists(
    st.tuples(
        st.floats(min_value=1, max_value=400, allow_nan=False),  # seconds since the last run
        st.sampled_from([0, 0, 0, 1, 2, 2, 3]),
        st.one_of(st.none(), st.floats(min_value=0.001, max_value=5, allow_nan=False)),
    ),
    min_size=1,
    max_size=120,
)


def series(check: str, start: float, steps: list[tuple[float, int, float | None]], stretch: float):
    t = start
    out = []
    for gap, status, latency in steps:
        t += gap * stretch
        out.append(AvailabilitySample("web1", check, t, status, latency))
    return out


async def _compare(
    db: Path,
    a: list[AvailabilitySample],
    b: list[AvailabilitySample],
    start: float,
    end: float,
    catalog: Catalog = CATALOG,
) -> None:
    clock = FakeClock(DAY0)
    store = await Store.open(f"sqlite:///{db}", clock=clock)
    try:
        for s in sorted(a + b, key=lambda s: s.time):
            store.record_sample(s)
        await store.flush()
        rollup = Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=9)
        horizon = DAY0 + 4 * DAY
        while clock.now() < horizon:  # several runs, each rolling at most 9 hours
            await clock.advance(5 * HOUR)
            await rollup.run()
        async with store.engine.connect() as conn:
            got = await tallies(conn, catalog, start, end, now=clock.now())
        for check, samples in (("a", a), ("b", b)):
            want = tally_span(samples, start=start, end=end, max_gap=GAP)
            have = got[("web1", check)]
            for name in ("up", "down", "unknown", "maintenance", "unmonitored", "latency_sum"):
                assert getattr(have, name) == pytest.approx(getattr(want, name), abs=1e-6), name
            assert (have.checks, have.failures, have.latency_count, have.latency_max) == (
                want.checks,
                want.failures,
                want.latency_count,
                want.latency_max,
            )
    finally:
        await store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=steps,
    b=steps,
    stretch=st.sampled_from([1.0, 10.0, 60.0]),
    offset=st.floats(min_value=0, max_value=2 * DAY),
    length=st.floats(min_value=60, max_value=3 * DAY),
)
def test_rollups_add_up_to_the_raw_computation(
    a: list, b: list, stretch: float, offset: float, length: float
) -> None:
    """For any samples and any span, daily + hourly rollups + raw tail give the raw tally (p95 aside)."""
    start = DAY0 + offset
    end = min(DAY0 + 3 * DAY, start + length)
    first = series("a", DAY0 + 1800, a, stretch)
    second = series("b", DAY0 + 7 * HOUR, b, stretch)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_compare(Path(tmp) / "w.db", first, second, start, end))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=steps,
    stretch=st.sampled_from([10.0, 60.0]),
    offset=st.floats(min_value=0, max_value=DAY),
    length=st.floats(min_value=DAY, max_value=2 * DAY),
)
def test_days_cut_off_the_hour_add_up_to_the_raw_computation(
    a: list, stretch: float, offset: float, length: float
) -> None:
    """In Asia/Kolkata (UTC+05:30) a day's half-hours at each end come from raw samples: daily
    rows of its local days + hourly rows + raw tail still give the raw tally."""
    start = DAY0 + offset
    end = min(DAY0 + 3 * DAY, start + length)
    kolkata = replace(CATALOG, timezone="Asia/Kolkata")
    first = series("a", DAY0 + 1800, a, stretch)
    second = series("b", DAY0 + 7 * HOUR, a, stretch / 2)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_compare(Path(tmp) / "w.db", first, second, start, end, kolkata))


async def test_hourly_rollups_beyond_retention_are_pruned_daily_rows_kept(tmp_path: Path) -> None:
    """After the retention, hourly rows of old days are gone, their daily rows remain."""
    clock = FakeClock(DAY0)
    store = await Store.open(f"sqlite:///{tmp_path}/w.db", clock=clock)
    catalog = Catalog(report=ReportConfig(max_sample_gap=GAP, hourly_retention="2d"))
    try:
        t = DAY0
        while t < DAY0 + 5 * DAY:
            store.record_sample(AvailabilitySample("db1", "tcp", t, 0, 0.01))
            t += 600
        await store.flush()
        await clock.advance(5 * DAY + HOUR)
        rollup = Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=1000)
        assert await rollup.run() == 5 * 24
        async with store.engine.connect() as conn:
            oldest = (await conn.execute(select(func.min(rollups_hourly.c.start)))).scalar()
            days = (await conn.execute(select(func.count()).select_from(rollups_daily))).scalar()
            mark = await load_watermark(conn)
        assert oldest >= clock.now() - 2 * DAY
        assert days == 5
        assert mark.daily_until == DAY0 + 5 * DAY
        assert mark.hourly_until == DAY0 + 5 * DAY
    finally:
        await store.close()


async def test_a_rerun_without_new_hours_changes_nothing(tmp_path: Path) -> None:
    """Running the job again before the next hour closes rolls nothing and keeps the rows."""
    clock = FakeClock(DAY0 + 2 * HOUR + 200)
    store = await Store.open(f"sqlite:///{tmp_path}/w.db", clock=clock)
    try:
        store.record_sample(AvailabilitySample("db1", "tcp", DAY0 + 10, 0, 0.01))
        await store.flush()
        rollup = Rollup(store.engine, clock=clock, catalog=lambda: CATALOG)
        assert await rollup.run() == 2
        assert await rollup.run() == 0
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(rollups_hourly))).scalar()
        assert rows == 1  # the second hour had no sample reaching into it: no row
    finally:
        await store.close()
