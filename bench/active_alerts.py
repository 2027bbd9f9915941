"""Memory with many active alerts: the real daemon's RSS holding `--alerts` firing label sets.

Starts `watchd run` (SQLite, JSON logs at info, one webhook receiver in this process answering
200, default route) and posts `--alerts` (default 100,000) distinct label sets to
POST /api/v2/alerts as Prometheus sends them (alertname, instance, job, severity, item, a
summary annotation and generatorURL; batches of 100, 4 in flight; `--items` items, default
10,000, so that many incidents), all firing with an end an hour ahead. Then it sends them all
again (a sender's next evaluation: the dedup path), reads them as a dashboard and amtool do
(`GET /api/v2/alerts`, the first page of `GET /api/v1/alerts`, `--reads` times each), lets
the daemon sit for `--idle` seconds, resolves them all (the same label sets with endsAt now,
as Prometheus sends a resolution) and lets it sit again: what the alerts leave behind.
Prints the daemon's RSS after each phase and its maximum, with the post rates and the
notifications received. The daemon inherits this process's environment (try
MALLOC_ARENA_MAX=2).

    .venv/bin/python bench/active_alerts.py [--alerts 100000] [--items 10000] [--idle 60]
        [--reads 3] [--no-resolve] [--no-receiver] [--keep DIR] [--tracemalloc DIR | --stats DIR]

With --tracemalloc the daemon runs under bench/memtrace.py and a snapshot is taken after each
phase (snap-000 after start, 001 after the first pass, 002 after the resend, 003 after the
reads, 004 after idle, 005 after the resolution, 006 after idle again); `memtrace.py top
DIR/snap-004.pickle` shows what holds the memory. Tracing costs memory of its own: the RSS
figures of such a run are not the daemon's. With --stats DIR the daemon runs under memtrace.py
without tracing: DIR/stats.tsv gets a line per phase (glibc's heap, pymalloc's arenas,
SQLite's memory), and at the end glibc's malloc_trim(0) shows how much of the RSS is free
memory kept by the allocator (`rss_mb_trimmed`); DIR/pins.txt then shows the objects in
pymalloc's emptiest arenas (what keeps them from being given back).
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
from aiohttp import web
from soak import am_alert, free_port, start_daemon, stop


class Receiver:
    """A webhook receiver answering 200, counting what it got."""

    def __init__(self) -> None:
        self.received = 0

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.received += 1
        return web.Response(text="ok")

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, port


def config(tmp: Path, api_port: int, hook_port: int | None) -> Path:
    """The daemon's config; with `hook_port`, one webhook receiver (the default route)."""
    path = tmp / "config.toml"
    text = f"""
[daemon]
state_dir = "state"
log_format = "json"
log_level = "info"

[api]
listen = "127.0.0.1:{api_port}"
"""
    if hook_port is not None:
        text += f"""
[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{hook_port}/hook"
"""
    path.write_text(text)
    return path


def alerts(count: int, items: int, now: float, ends: float) -> list[dict[str, object]]:
    """`count` distinct label sets over `items` items, started a minute before `now` and ending
    at `ends`; an item's alerts come one after another (a batch holds one or two items')."""
    out = []
    per_item = -(-count // items)
    for i in range(count):
        host = f"host{i // per_item}"
        n = i % per_item
        labels = {
            "alertname": f"Soak{n % 50}",
            "instance": f"{host}.example.net:{9100 + n // 50}",
            "job": "node",
            "severity": "critical" if i % 3 else "warning",
            "item": host,
        }
        out.append(am_alert(labels, now - 60, ends))
    return out


async def post_firing(base: str, count: int, items: int) -> None:
    """Post `count` firing alerts over `items` items (alerts()), 100 a request, 4 at a time;
    RuntimeError if any post is not answered 200."""
    now = time.time()
    _, failed = await post_all(base, encoded(alerts(count, items, now, now + 3600)), 4)
    if failed:
        raise RuntimeError(f"{failed} posts were not answered 200")


async def probed(trigger: Path) -> None:
    """Ask bench/memtrace.py for a snapshot or a trim, and wait until it is done."""
    trigger.touch()  # noqa: ASYNC240 (a local file: no wait worth a thread)
    while trigger.exists():  # noqa: ASYNC110, ASYNC240 (as above)
        await asyncio.sleep(0.5)


def encoded(body: list[dict[str, object]]) -> list[bytes]:
    """The alerts as POST bodies of 100."""
    return [json.dumps(body[i : i + 100]).encode() for i in range(0, len(body), 100)]


async def post_all(base: str, batches: list[bytes], in_flight: int) -> tuple[float, int]:
    """Post every batch, `in_flight` at a time; (seconds taken, posts not answered 200)."""
    queue = list(reversed(batches))
    failed = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal failed
        while queue:
            body = queue.pop()
            async with http.post(
                base + "/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                failed += resp.status != 200

    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(in_flight)))
    return time.perf_counter() - started, failed


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    receiver = Receiver()
    runner, hook_port = await receiver.start()
    api_port = free_port()
    path = config(tmp, api_port, None if args.no_receiver else hook_port)
    base = f"http://127.0.0.1:{api_port}"
    trace = None
    probe: Path | None = args.tracemalloc or args.stats
    if probe:
        trace = ["--out", str(probe), "--every", "1e9"]
        trace += [] if args.tracemalloc else ["--no-trace"]
    result: dict[str, object] = {"alerts": args.alerts, "items": args.items}
    peak = 0.0
    proc = await start_daemon(tmp, path, api_port, trace)
    try:
        daemon = psutil.Process(proc.pid)

        async def phase(name: str) -> None:
            nonlocal peak
            if probe:  # memtrace takes a snapshot within a second of this file
                await probed(probe / "snap-now")
            rss = daemon.memory_info().rss / 2**20
            peak = max(peak, rss)
            result[f"rss_mb_{name}"] = round(rss, 1)
            print(
                f"{name}: RSS {rss:.0f} MB (at most {peak:.0f} MB so far), "
                f"notifications received {receiver.received}"
            )

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, daemon.memory_info().rss / 2**20)
                await asyncio.sleep(1)

        async def post_phase(name: str, batches: list[bytes]) -> None:
            seconds, failed = await post_all(base, batches, args.in_flight)
            result[f"{name}_alerts_per_s"] = round(args.alerts / seconds)
            result[f"{name}_failed_posts"] = failed
            await phase(name)

        sampler = asyncio.create_task(sample())
        await phase("started")
        began = time.time()
        batches = encoded(alerts(args.alerts, args.items, began, began + 3600))
        for name in ("first_pass", "resend"):
            await post_phase(name, batches)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            for _ in range(args.reads):
                for path in ("/api/v2/alerts", "/api/v1/alerts"):
                    async with http.get(base + path) as resp:
                        result[f"read_bytes {path}"] = len(await resp.read())
        await phase("reads")
        await asyncio.sleep(args.idle)
        await phase("idle")
        if not args.no_resolve:
            now = time.time()
            await post_phase("resolved", encoded(alerts(args.alerts, args.items, began, now)))
            await asyncio.sleep(args.idle)
            await phase("idle_resolved")
        sampler.cancel()
        if args.stats:
            await probed(args.stats / "trim-now")
            result["rss_mb_trimmed"] = round(daemon.memory_info().rss / 2**20, 1)
            await probed(args.stats / "pins-now")
        result["rss_mb_max"] = round(peak, 1)
        result["notifications_received"] = receiver.received
        result["cpu_s"] = round(sum(daemon.cpu_times()[:2]), 1)
    finally:
        await stop(proc)
        await runner.cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--idle", type=float, default=60)
    parser.add_argument("--reads", type=int, default=3, help="GETs of each alert list")
    parser.add_argument("--no-resolve", action="store_true", help="stop before resolving")
    parser.add_argument(
        "--no-receiver", action="store_true", help="no receiver: the alerts and incidents alone"
    )
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    parser.add_argument(
        "--tracemalloc", type=Path, help="run the daemon under memtrace.py, snapshots here"
    )
    parser.add_argument(
        "--stats", type=Path, help="run the daemon under memtrace.py --no-trace, stats here"
    )
    args = parser.parse_args()
    for probe in ("tracemalloc", "stats"):  # the daemon runs in another directory
        if getattr(args, probe):
            setattr(args, probe, getattr(args, probe).resolve())
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(measure(args, args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(measure(args, Path(tmp)))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
