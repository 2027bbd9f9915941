"""Polling throughput: N HTTP items on loopback through the daemon's real check path.

Scheduler -> http collector -> ResultProcessor (state machine, metrics) -> Store (SQLite,
batched writer). The HTTP server runs in a child process pinned to the other core; this
process is pinned to one core, so the figures are for one core. Prints checks/s achieved vs
scheduled, p50/p99 schedule lag, CPU seconds per 1,000 checks and peak RSS.

    .venv/bin/python bench/scheduler_http.py --items 1000 10000 --interval 10 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from watchd.clock import SystemClock
from watchd.config import parse_config
from watchd.metrics import Metrics
from watchd.results import ResultProcessor
from watchd.scheduler import RunInfo, Scheduler
from watchd.store import Store

# The store-only sink is test scaffolding in tests/, outside the shipped package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.storing_sink import StoringSink

SERVER = """
import os, sys
from aiohttp import web
os.sched_setaffinity(0, {int(sys.argv[2])})
async def ok(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def run(
    n: int, interval: float, duration: float, port: int, fresh: bool, db: Path
) -> dict[str, Any]:
    raw = {
        "check_defaults": {"interval": interval, "jitter": interval, "timeout": 5},
        "items": [
            {
                "name": f"web-{i}",
                "checks": [
                    {
                        "name": "http",
                        "kind": "http",
                        "url": f"http://127.0.0.1:{port}/item/{i}",
                        "fresh_connection": fresh,
                    }
                ],
            }
            for i in range(n)
        ],
    }
    config = parse_config(raw, Path("bench.toml"))
    from collectors import REGISTRY

    clock = SystemClock()
    store = await Store.open(f"sqlite+aiosqlite:///{db}", clock=clock)
    metrics = Metrics()
    processor = ResultProcessor(clock=clock, store=store, metrics=metrics, sink=StoringSink(store))
    lags: list[float] = []
    failures: Counter[str] = Counter()

    async def handler(check, result, info: RunInfo) -> bool:  # type: ignore[no-untyped-def]
        lags.append(info.lag)
        if not result.status.is_ok:
            failures[result.message.split(":")[-1].strip()[:60]] += 1
        return await processor.handle(check, result, info)

    scheduler = Scheduler(clock=clock, handler=handler, max_concurrent=500)
    scheduler.set_checks([(c, REGISTRY[c.kind](c.settings)) for c in config.checks()])
    writer = asyncio.create_task(store.run_writer())
    cpu0 = time.process_time()
    t0 = time.monotonic()
    runner = asyncio.create_task(scheduler.run())
    await asyncio.sleep(duration)
    elapsed = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    runs = len(lags)
    await scheduler.stop(5)
    runner.cancel()
    writer.cancel()
    await asyncio.gather(runner, writer, return_exceptions=True)
    for collector in scheduler.collectors():
        await collector.aclose()
    await store.close()
    return {
        "items": n,
        "scheduled_per_s": n / interval,
        "achieved_per_s": runs / elapsed,
        "lag_p50_ms": percentile(lags, 50) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "cpu_s_per_1000": cpu / max(runs, 1) * 1000,
        "cpu_share": cpu / elapsed,
        "failed": sum(failures.values()),
        "why": ", ".join(f"{n}x {why}" for why, n in failures.most_common(3)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--reuse", action="store_true", help="keep HTTP connections (fresh_connection = false)"
    )
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(cores[-1])])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        print(
            f"{'items':>6} {'sched/s':>8} {'done/s':>8} {'lag p50':>9} {'lag p99':>9} "
            f"{'CPU s/1k':>9} {'CPU %':>6} {'failed':>6} {'RSS MB':>7}"
        )
        for n in args.items:
            with tempfile.TemporaryDirectory() as tmp:
                r = asyncio.run(
                    run(n, args.interval, args.duration, port, not args.reuse, Path(tmp) / "b.db")
                )
            print(
                f"{r['items']:>6} {r['scheduled_per_s']:>8.0f} {r['achieved_per_s']:>8.1f} "
                f"{r['lag_p50_ms']:>7.1f}ms {r['lag_p99_ms']:>7.1f}ms {r['cpu_s_per_1000']:>9.3f} "
                f"{r['cpu_share'] * 100:>5.0f}% {r['failed']:>6} {r['peak_rss_mb']:>7.0f}",
                flush=True,
            )
            if r["why"]:
                print(f"       failures: {r['why']}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
