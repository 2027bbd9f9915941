"""Alertmanager API v2 reads on the real daemon: what `GET /api/v2/alerts` costs with many
firing alerts, as Karma or Grafana poll it, and how long it holds up the daemon's event loop.

Starts `watchd run` (SQLite, no receiver), posts `--alerts` (default 10,000) firing label sets
over `--items` items to POST /api/v2/alerts (bench/active_alerts.py's alerts) and adds
`--silences` silences through POST /api/v2/silences (each matches a twentieth of the alerts'
alertnames on some hosts). Then it fetches GET /api/v2/alerts `--gets` times with curl (a
process of its own, so reading the answer costs this bench nothing) while probing /healthz
every 10 ms, and prints per GET: the daemon's CPU-seconds, the wall time, the answer's size
and the slowest /healthz answer during it (the longest the event loop was held up, as a
client sees it; the checks' `overload_lag` is 0.5 s).

    .venv/bin/python bench/am_read.py [--alerts 10000] [--items 1000] [--silences 20] [--gets 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from active_alerts import config, post_firing
from soak import free_port, start_daemon, stop


async def probe(base: str, until: asyncio.Event) -> float:
    """The slowest /healthz answer until `until` is set, probing every 10 ms."""
    worst = 0.0
    async with aiohttp.ClientSession() as http:
        while not until.is_set():
            started = time.perf_counter()
            async with http.get(base + "/healthz") as resp:
                await resp.read()
            worst = max(worst, time.perf_counter() - started)
            await asyncio.sleep(0.01)
    return worst


async def one_get(base: str, daemon: psutil.Process, out: Path) -> dict[str, float]:
    done = asyncio.Event()
    prober = asyncio.create_task(probe(base, done))
    await asyncio.sleep(0.1)
    cpu = sum(daemon.cpu_times()[:2])
    started = time.perf_counter()
    curl = await asyncio.create_subprocess_exec(
        "curl", "-sf", "-o", str(out), base + "/api/v2/alerts"
    )
    if await curl.wait() != 0:
        raise RuntimeError("GET /api/v2/alerts failed")
    wall = time.perf_counter() - started
    cpu = sum(daemon.cpu_times()[:2]) - cpu
    done.set()
    body = await asyncio.to_thread(out.read_bytes)
    return {
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "mb": round(len(body) / 1e6, 1),
        "alerts": len(json.loads(body)),
        "worst_healthz_s": round(await prober, 3),
    }


async def measure(args: argparse.Namespace, tmp: Path) -> list[dict[str, float]]:
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    proc = await start_daemon(tmp, config(tmp, api_port, None), api_port)
    try:
        await post_firing(base, args.alerts, args.items)
        async with aiohttp.ClientSession() as http:
            for n in range(args.silences):
                silence = {
                    "matchers": [
                        {"name": "alertname", "value": f"Soak{n % 50}", "isRegex": False},
                        {"name": "item", "value": f"host{n}.*", "isRegex": True},
                    ],
                    "startsAt": "2000-01-01T00:00:00Z",
                    "endsAt": "2099-01-01T00:00:00Z",
                    "createdBy": "bench",
                    "comment": "bench",
                }
                async with http.post(base + "/api/v2/silences", json=silence) as resp:
                    resp.raise_for_status()
        daemon = psutil.Process(proc.pid)
        return [await one_get(base, daemon, tmp / "alerts.json") for _ in range(args.gets)]
    finally:
        await stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--silences", type=int, default=20)
    parser.add_argument("--gets", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for row in asyncio.run(measure(args, Path(tmp))):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
