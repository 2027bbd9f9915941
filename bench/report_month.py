"""Benchmark: a month's availability report for 10,000 checks at 60 s intervals.

430 million raw samples a month are too many to keep raw, so this builds what watchd keeps:
30 days of hourly and daily rollups (written directly, as the rollup job would have) plus the
last 2 days of raw samples, in a temporary SQLite store. Then it measures

    - the month's report (JSON dict) for one service of 50 checks      target < 2 s
    - the full report of every check and 20 services, rendered as HTML  target < 30 s
    - the store's size on disk, per table                               target < 2 GB

    .venv/bin/python bench/report_month.py [--checks 10000] [--raw-days 2] [--keep DIR]
        [--timezone Asia/Shanghai] [--rule all]

--timezone reports local months and days; the daily rows are that zone's local days, as the
rollup job cuts them (the first and last local day, not covered whole, come from hourly rows
and raw samples); --rule gives every service that availability rule. This bench writes the checks'
rollups only, so an "all"/"any" service has combined figures for the raw days alone (the rollup
job, not run here, writes the combined rows): that measures combining members' raw samples.
Times are wall and CPU seconds (process time), CPU being the figure on a loaded machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from watchd.clock import FakeClock
from watchd.report.build import build_report
from watchd.report.catalog import Catalog
from watchd.report.config import AvailabilityRule, ReportConfig, ServiceConfig
from watchd.report.period import Period, local_days
from watchd.report.render import render
from watchd.report.rollup import day_end, day_start
from watchd.store import Store

DAY0 = 1_790_812_800.0  # 2026-10-01T00:00:00Z
HOUR, DAY = 3600.0, 86400.0
CHECKS_PER_ITEM = 5
ROLLED_DAYS = 30
NOW = DAY0 + ROLLED_DAYS * DAY + 1800  # 31 Oct 00:30: half an hour not rolled up yet


def keys(n: int) -> list[tuple[str, str]]:
    return [(f"host{i // CHECKS_PER_ITEM:05d}", f"check{i % CHECKS_PER_ITEM}") for i in range(n)]


def fill(db: Path, n: int, raw_days: float, zone: str) -> dict[str, float]:
    """Write series, hourly rollups, daily rollups of the local days of `zone` they cover whole
    (as the rollup job cuts them) and raw samples with plain sqlite3; seconds taken."""
    rng = random.Random(7)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con.executemany(
        'INSERT INTO rollup_series (id, item, "check") VALUES (?, ?, ?)',
        [(i + 1, item, check) for i, (item, check) in enumerate(keys(n))],
    )
    end = DAY0 + ROLLED_DAYS * DAY
    days = [(a, b) for a, b in local_days(DAY0, end, zone) if day_end(a, zone) == b]
    days = [(a, b) for a, b in days if a >= DAY0 and day_start(a, zone) == a]
    totals: dict[tuple[int, float], list[float]] = {}
    for day in range(ROLLED_DAYS):
        hourly = []
        starts = [DAY0 + day * DAY + hour * HOUR for hour in range(24)]
        local_day = [next((a for a, b in days if a <= t < b), None) for t in starts]
        for sid in range(1, n + 1):
            for hour in range(24):
                down = rng.choice((0.0,) * 60 + (60.0, 600.0))
                lat = rng.uniform(0.01, 0.2)
                row = (
                    3600 - down,
                    down,
                    0.0,
                    0.0,
                    0.0,
                    60,
                    1 if down else 0,
                    lat * 60,
                    60,
                    lat * 2,
                    lat * 1.5,
                )
                hourly.append((sid, starts[hour], *row))
                if local_day[hour] is None:
                    continue
                sums = totals.setdefault((sid, local_day[hour]), [0.0] * 11)
                for k in range(9):
                    sums[k] += row[k]
                sums[9] = max(sums[9], row[9])
                sums[10] = max(sums[10], row[10])
        con.executemany(f"INSERT INTO rollups_hourly VALUES ({', '.join('?' * 13)})", hourly)
        con.commit()
    con.executemany(
        f"INSERT INTO rollups_daily VALUES ({', '.join('?' * 13)})",
        [(sid, a, *sums) for (sid, a), sums in totals.items()],
    )
    con.executemany(
        'INSERT INTO rollup_days (start, "end", zone) VALUES (?, ?, ?)',
        [(a, b, zone) for a, b in days],
    )
    con.commit()
    timings["rollups"] = time.perf_counter() - started
    started = time.perf_counter()
    t = NOW - raw_days * DAY
    while t < NOW:
        con.executemany(
            "INSERT INTO samples (time, series_id, status, latency, message) VALUES (?, ?, ?, ?, ?)",
            [(t + (sid % 60), sid, 0, 0.05, None) for sid in range(1, n + 1)],
        )
        t += 60
        if int(t) % 3600 == 0:
            con.commit()
    con.commit()
    timings["raw"] = time.perf_counter() - started
    con.execute(
        "INSERT INTO states (namespace, key, data, updated_at) VALUES ('report', 'rollup', ?, ?)",
        (f'{{"hourly_until": {end}, "daily_until": {days[-1][1]}}}', NOW),
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return timings


def sizes(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.OperationalError:  # built without dbstat
        return {}
    finally:
        con.close()
    return {name: int(size) for name, size in rows}


def catalog(n: int, zone: str, rule: AvailabilityRule) -> Catalog:
    services = [
        ServiceConfig(
            name=f"svc{s:02d}", checks=[f"host{s:03d}*/*"], objective=99.9, availability=rule
        )
        for s in range(20)
    ]  # svc00: host00000..host00099, ...: 100 items, 500 checks each at 10,000 checks
    # 10 items, 50 checks
    one = ServiceConfig(name="one", checks=["host0000*/*"], objective=99.9, availability=rule)
    intervals = dict.fromkeys(keys(n), 60.0)
    labels = {k: {"item": k[0], "check": k[1]} for k in intervals}
    return Catalog(
        report=ReportConfig(),
        labels=labels,
        intervals=intervals,
        default_interval=60.0,
        services=(one, *services),
        timezone=zone,
    )


async def measure(db: Path, n: int, zone: str, rule: AvailabilityRule) -> None:
    clock = FakeClock(NOW)
    store = await Store.open(f"sqlite:///{db}", clock=clock, migrate=False)
    cat = catalog(n, zone, rule)
    period = Period.month("2026-10", zone)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        one = await build_report(store.engine, cat, period, now=NOW, service="one")
        service_s, service_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        full = await build_report(store.engine, cat, period, now=NOW)
        build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        html = render(full, "html")
        html_s, html_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await store.close()
    print(f"month {period.label} in {zone}, services by rule {rule!r}")
    print(
        f"one service ({len(one['checks'])} checks), month report: {service_s:.2f} s "
        f"({service_cpu:.2f} CPU-s) (target < 2 s)"
    )
    print(
        f"full report ({len(full['checks'])} checks, {len(full['services'])} services): "
        f"build {build_s:.2f} s + HTML {html_s:.2f} s = {build_s + html_s:.2f} s "
        f"({build_cpu + html_cpu:.2f} CPU-s) (target < 30 s), {len(html) / 1e6:.1f} MB of HTML"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--raw-days", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="build the store here and keep it")
    parser.add_argument("--timezone", default="UTC", help="[daemon] timezone of the report")
    parser.add_argument("--rule", choices=("all", "any", "weighted"), default="weighted")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="watchd-bench-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "watchd.db"
    try:
        asyncio.run(_migrate(db))
        timings = fill(db, args.checks, args.raw_days, args.timezone)
        total = sum(p.stat().st_size for p in tmp.glob("watchd.db*"))
        raw = args.checks * args.raw_days * 1440
        print(
            f"store: {args.checks} checks, {ROLLED_DAYS} days of rollups "
            f"({args.checks * ROLLED_DAYS * 24:,} hourly rows, written in {timings['rollups']:.0f} s), "
            f"{raw:,.0f} raw samples ({args.raw_days:g} days, written in {timings['raw']:.0f} s)"
        )
        print(f"store size on disk: {total / 1e9:.2f} GB (target < 2 GB)")
        for name, size in sorted(sizes(db).items(), key=lambda x: -x[1])[:8]:
            print(f"    {name:32s} {size / 1e6:9.1f} MB")
        asyncio.run(measure(db, args.checks, args.timezone, args.rule))
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


async def _migrate(db: Path) -> None:
    store = await Store.open(f"sqlite:///{db}", clock=FakeClock())
    await store.close()


if __name__ == "__main__":
    main()
