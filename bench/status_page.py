"""Benchmark: what a status page costs (issue 17).

Builds 91 days of history for S services of M checks each (a sample every 5 minutes through the
store's batched writer, rolled up by the real rollup job) in a temporary SQLite store, serves
one public page on loopback and measures, in CPU seconds (process time, the figure on a loaded
machine; wall time too):

    - the 90-day daily figures of the page's services (recomputed at most once a minute)
    - one rebuild of the current part with both answers rendered (at most every 5 s)
    - one cached request, HTML and JSON (client included: an upper bound)

    .venv/bin/python bench/status_page.py [--services 3] [--members 4] [--timezone UTC]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from watchd.api import create_app, start_api
from watchd.api import status as status_routes
from watchd.api.reports import ReportSource
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.loading import incident_settings, report_catalog
from watchd.metrics import Metrics
from watchd.pipeline.actions import IncidentService
from watchd.report.rollup import Rollup
from watchd.report.status import daily_history
from watchd.store import AvailabilitySample, Store

DAY = 86400
NOW = 1_800_000_000 - 1_800_000_000 % DAY + 8 * 3600  # 08:00 UTC


def _config(services: int, members: int, zone: str) -> dict[str, Any]:
    names = [f"i{n}" for n in range(services * members)]
    check = {"name": "c", "kind": "tcp", "port": 80, "interval": "5m"}
    return {
        "daemon": {"timezone": zone},
        "items": [{"name": n, "checks": [check]} for n in names],
        "services": [
            {
                "name": f"s{k}",
                "checks": [f"{n}/*" for n in names[k * members : (k + 1) * members]],
                "availability": ("all", "any", "weighted")[k % 3],
            }
            for k in range(services)
        ],
        "status_pages": [
            {"name": "public", "public": True, "services": [f"s{k}" for k in range(services)]}
        ],
    }


def _cpu(start: tuple[float, float]) -> str:
    return (
        f"{time.process_time() - start[0]:.3f} CPU-s ({time.perf_counter() - start[1]:.3f} s wall)"
    )


def _now() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


async def main(services: int, members: int, zone: str, tmp: Path) -> None:
    config = parse_config(_config(services, members, zone), Path("bench.toml"))
    catalog = report_catalog(config)
    clock = FakeClock(NOW)
    store = await Store.open(f"sqlite:///{tmp}/bench.db", clock=clock)
    checks = [(i.name, "c") for i in config.items]
    for t in range(NOW - 91 * DAY, NOW, 300):
        for n, (item, check) in enumerate(checks):
            down = (t // 3600) % 50 == n % 50  # an hour down every 50 hours, staggered
            store.record_sample(AvailabilitySample(item, check, t, 2 if down else 0, 0.01))
        if t % DAY == 0:
            await store.flush()
    await store.flush()
    rollup = Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=100_000)
    while await rollup.run():
        pass
    print(f"{len(checks)} checks in {services} services, 91 days, timezone {zone}")
    async with store.engine.connect() as conn:
        for _ in range(2):
            start = _now()
            await daily_history(conn, catalog, catalog.services, days=90, now=NOW)
            print(f"90-day figures:            {_cpu(start)}")
    settings = incident_settings(config)
    incidents = IncidentService(store.engine, clock=clock, settings=lambda: settings)
    items: list[dict[str, Any]] = [
        {"name": i, "checks": [{"name": c, "enabled": True, "hard_status": "OK"}]}
        for i, c in checks
    ]
    app = create_app(tokens={}, metrics=Metrics(), items=lambda: items, ready=lambda: True)
    reports = ReportSource(store.engine, lambda: catalog, clock)
    source = status_routes.StatusSource(
        reports, incidents, lambda: items, lambda: config.status_pages
    )
    status_routes.add_routes(app, source)
    runner = await start_api(app, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/status/public"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base) as resp:  # the first: history and current part
                await resp.read()
            rebuilds = 10
            start = _now()
            for _ in range(rebuilds):
                await clock.advance(status_routes.CURRENT_TTL)
                async with http.get(base) as resp:
                    await resp.read()
            per = (time.process_time() - start[0]) / rebuilds
            print(f"current part rebuilt:      {per * 1000:.1f} ms CPU per rebuild (every 5 s)")
            for path in ("", "/status.json"):
                n = 500
                start = _now()
                for _ in range(n):
                    async with http.get(base + path) as resp:
                        await resp.read()
                per = (time.process_time() - start[0]) / n
                print(f"cached {path or 'HTML':<18} {per * 1000:.2f} ms CPU per request")
    finally:
        await runner.cleanup()
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.services, args.members, args.timezone, Path(tmp)))
