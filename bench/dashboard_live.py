"""The live dashboard's refresh on the real daemon: what one refresh of the incident list
(GET /fragments/incidents, which an open page fetches every 10 s while visible) costs the daemon
with many open incidents, and what the daemon spends when nobody watches.

Starts `watchd run` (SQLite, no receiver), posts `--alerts` (default 1,000) firing alerts, one
per item, so as many incidents open (bench/active_alerts.py's alerts). It then waits for the
daemon to settle, measures its CPU-seconds over `--idle` seconds with no client, and fetches
the fragment `--gets` times with curl (a process of its own) at the page's default page size
(200 rows) and at the largest (1,000), printing the daemon's CPU-seconds and the size per fetch (the mean over the fetches).
An open page polls 6 times a minute: its cost per minute is 6 x the 200-row figure.

    .venv/bin/python bench/dashboard_live.py [--alerts 1000] [--gets 20] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

import aiohttp
import psutil
from active_alerts import config, post_firing
from soak import free_port, start_daemon, stop


def cpu(daemon: psutil.Process) -> float:
    return float(sum(daemon.cpu_times()[:2]))


async def fetch(url: str, daemon: psutil.Process, out: Path) -> tuple[float, int]:
    """The daemon's CPU-seconds for one GET of `url` by curl, and the answer's bytes."""
    before = cpu(daemon)
    curl = await asyncio.create_subprocess_exec("curl", "-sf", "-o", str(out), url)
    if await curl.wait() != 0:
        raise RuntimeError(f"GET {url} failed")
    return cpu(daemon) - before, (await asyncio.to_thread(out.stat)).st_size


async def open_incidents(base: str) -> int:
    url = base + "/api/v1/incidents?state=open&limit=1"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return int((await resp.json())["total"])


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    proc = await start_daemon(tmp, config(tmp, api_port, None), api_port)
    try:
        await post_firing(base, args.alerts, args.alerts)
        daemon = psutil.Process(proc.pid)
        for _ in range(120):  # until every alert has its incident
            if await open_incidents(base) >= args.alerts:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(5)
        before = cpu(daemon)
        await asyncio.sleep(args.idle)
        idle = cpu(daemon) - before
        result: dict[str, object] = {
            "open_incidents": await open_incidents(base),
            "idle_daemon_cpu_s_per_min": round(idle * 60 / args.idle, 3),
        }
        for limit in (200, 1000):
            url = f"{base}/fragments/incidents?view=open&limit={limit}"
            runs = [await fetch(url, daemon, tmp / "fragment.html") for _ in range(args.gets)]
            # The mean over all fetches: one fetch is a few of the kernel's 10 ms CPU ticks.
            result[f"rows_{limit}"] = {
                "cpu_ms_mean": round(1000 * statistics.fmean(c for c, _ in runs), 1),
                "kb": round(runs[-1][1] / 1000, 1),
            }
        return result
    finally:
        await stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000)
    parser.add_argument("--gets", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(measure(args, Path(tmp)))))


if __name__ == "__main__":
    main()
