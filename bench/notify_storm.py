"""Notification delivery in a storm (issue 13): 5,000 new incidents, one webhook receiver.

The real daemon (`watchd run -c` a temp config: SQLite, JSON logs at info, one webhook
receiver, the default route with group_wait 0, so each incident is its own notification group)
pinned to one core; this process (load generator and the receiving aiohttp server) on the
other. 5,000 alerts on 5,000 items are posted to POST /api/v2/alerts in batches of 100,
8 in flight. Two measurements per round, on a fresh store each:

  end to end  first POST -> the receiver has all 5,000 notifications, and the last POST's
              200 -> the last notification (the delivery that trails the accepting);
  delivery    the same storm posted while the route is muted (a time interval that always
              matches), then the mute is lifted by SIGHUP: reload -> all 5,000 received, and
              the daemon's CPU seconds in that window. This separates the dispatcher's work
              from the incident opening that shares the core with it end to end.

Every notification's Idempotency-Key is counted: "dups" are repeats of a key (allowed by
at-least-once), "lost" are items that never got one (must be 0). `--alertmanager` runs
Debian's prometheus-alertmanager on the same storm (group_by item, group_wait 0) end to end in
alternating rounds. `--profile DIR` records the daemon with py-spy (on PATH, or
PYSPY=/path/to/py-spy) during the delivery phase, as a speedscope file per round: the thread
holding the GIL only, 500 times a second without stopping the daemon (sampling every thread
counted SQLite's thread waiting for the GIL as work).

    .venv/bin/python bench/notify_storm.py [--incidents 5000] [--rounds 3] [--alertmanager]
        [--phase both|e2e|delivery] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from notify_latency import free_port, serve, start_alertmanager, stop, wait_http

ROOT = Path(__file__).parents[1]


@dataclass
class Storm:
    """What the receiver got: the first receipt per item and per idempotency key."""

    expect: int = 0
    items: dict[str, float] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    requests: int = 0
    dups: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self, expect: int) -> None:
        self.expect = expect
        self.items.clear()
        self.keys.clear()
        self.requests = self.dups = 0
        self.done.clear()

    async def handle(self, request: web.Request) -> web.Response:
        doc = await request.json()
        now = time.perf_counter()
        self.requests += 1
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if key in self.keys:
                self.dups += 1
            self.keys.add(key)
        for alert in doc.get("alerts", []):
            if alert["labels"].get("alertname") == "StormDown":  # not watchd's own alerts
                self.items.setdefault(alert["labels"]["item"], now)
        if self.expect and len(self.items) >= self.expect:
            self.done.set()
        return web.Response(text="ok")


def bodies(prefix: str, incidents: int, batch: int) -> list[bytes]:
    """One firing alert per item, `batch` per request."""
    return [
        json.dumps(
            [
                {
                    "labels": {
                        "alertname": "StormDown",
                        "item": f"{prefix}{i}",
                        "severity": "critical",
                    },
                    "annotations": {"summary": f"{prefix}{i} is down"},
                }
                for i in range(first, min(incidents, first + batch))
            ]
        ).encode()
        for first in range(0, incidents, batch)
    ]


async def post_all(url: str, work: list[bytes], concurrency: int) -> tuple[float, float]:
    """Post `work`, `concurrency` in flight; (first POST, last 200) in perf_counter time."""
    queue = list(reversed(work))
    first = time.perf_counter()
    last = first

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal last
        while queue:
            body = queue.pop()
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                text = await resp.text()
                assert resp.status == 200, text
            last = max(last, time.perf_counter())

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        first = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return first, last


def config(port: int, hook: str, *, muted: bool, concurrency: int = 0) -> str:
    text = (
        f'[daemon]\nstate_dir = "state"\nlog_format = "json"\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\n'
        f'[[receivers]]\nname = "hook"\nkind = "webhook"\nurl = "{hook}"\n'
    )
    if concurrency:
        text += f"concurrency = {concurrency}\n"
    text += '[route]\ngroup_wait = "0s"\n'
    if muted:
        text += 'mute_time_intervals = ["always"]\n[[notify.time_intervals]]\nname = "always"\n'
    return text


async def start_watchd(
    tmp: Path, hook: str, core: int, *, muted: bool, concurrency: int
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    (tmp / "config.toml").write_text(config(port, hook, muted=muted, concurrency=concurrency))
    log = (tmp / "watchd.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        "taskset", "-c", str(core), sys.executable, "-m", "watchd.cli", "run",
        "-c", str(tmp / "config.toml"),
        stdout=log, stderr=log, cwd=tmp, env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    await wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc, port


@dataclass
class Figures:
    name: str
    total: float  # first POST (or the reload) -> all received, s
    accepted: float = 0.0  # first POST -> last 200, s
    cpu: float = 0.0  # the daemon's CPU seconds in the window
    dups: int = 0
    lost: int = 0

    @property
    def trailing(self) -> float:
        return self.total - self.accepted

    def line(self) -> str:
        accepted = (
            f"  accepted in {self.accepted:5.2f} s  last 200 -> last received {self.trailing:5.2f} s"
            if self.accepted
            else ""
        )
        return (
            f"{self.name:<26} all received {self.total:6.2f} s{accepted}  CPU {self.cpu:5.1f} s"
            f"  dups {self.dups}  lost {self.lost}"
        )


async def wait_all(storm: Storm, seconds: float) -> None:
    """Until the receiver has every notification, at most `seconds` (then some are lost)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(storm.done.wait(), seconds)


@contextlib.asynccontextmanager
async def running_watchd(
    hook: str, core: int, args: argparse.Namespace, *, muted: bool
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int, Path]]:
    """The daemon on a fresh state directory: (process, API port, directory); stopped after
    (its log copied to --keep-log)."""
    with tempfile.TemporaryDirectory(prefix="watchd-storm-") as tmp:
        proc, port = await start_watchd(
            Path(tmp), hook, core, muted=muted, concurrency=args.receiver_concurrency
        )
        try:
            yield proc, port, Path(tmp)
        finally:
            await stop(proc)
            if args.keep_log:
                shutil.copy(Path(tmp) / "watchd.log", args.keep_log)


async def end_to_end(
    storm: Storm, hook: str, args: argparse.Namespace, core: int, round_: int
) -> Figures:
    storm.reset(args.incidents)
    async with running_watchd(hook, core, args, muted=False) as (proc, port, _):
        server = psutil.Process(proc.pid)
        cpu = sum(server.cpu_times()[:2])
        work = bodies(f"e{round_}-", args.incidents, args.batch)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        first, last = await post_all(url, work, args.concurrency)
        await wait_all(storm, args.timeout)
        end = max(storm.items.values(), default=first)
        cpu = sum(server.cpu_times()[:2]) - cpu
    lost = args.incidents - len(storm.items)
    return Figures("watchd end to end", end - first, last - first, cpu, storm.dups, lost)


async def delivery(
    storm: Storm, hook: str, args: argparse.Namespace, core: int, round_: int
) -> Figures:
    storm.reset(args.incidents)
    async with running_watchd(hook, core, args, muted=True) as (proc, port, tmp):
        work = bodies(f"d{round_}-", args.incidents, args.batch)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        first, last = await post_all(url, work, args.concurrency)
        await asyncio.sleep(1.0)  # the daemon settles (write queue, scan of muted rows)
        assert not storm.items, "the muted route delivered"
        server = psutil.Process(proc.pid)
        spy = None
        if args.profile:
            spy = await start_spy(Path(args.profile) / f"delivery-{round_}.json", proc.pid)
        try:
            (tmp / "config.toml").write_text(
                config(port, hook, muted=False, concurrency=args.receiver_concurrency)
            )
            cpu = sum(server.cpu_times()[:2])
            reloaded = time.perf_counter()
            proc.send_signal(signal.SIGHUP)
            await wait_all(storm, args.timeout)
            end = max(storm.items.values(), default=reloaded)
            cpu = sum(server.cpu_times()[:2]) - cpu
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
    lost = args.incidents - len(storm.items)
    print(f"          (the muted storm was accepted in {last - first:.2f} s)")
    return Figures("watchd delivery (reload)", end - reloaded, 0.0, cpu, storm.dups, lost)


async def start_spy(out: Path, pid: int) -> asyncio.subprocess.Process:
    binary = os.environ.get("PYSPY") or shutil.which("py-spy")
    if binary is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy; or PYSPY=/path)")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        binary, "record", "-p", str(pid), "-o", str(out), "-f", "speedscope", "-r", "500",
        "--nonblocking", "--gil",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # attached
    return proc


async def alertmanager(
    storm: Storm, hook: str, args: argparse.Namespace, core: int, round_: int
) -> Figures | None:
    storm.reset(args.incidents)
    with tempfile.TemporaryDirectory(prefix="am-storm-") as tmp:
        am = await start_alertmanager(Path(tmp), hook, core=core)
        if am is None:
            return None
        proc, url = am
        try:
            server = psutil.Process(proc.pid)
            cpu = sum(server.cpu_times()[:2])
            work = bodies(f"a{round_}-", args.incidents, args.batch)
            first, last = await post_all(url, work, args.concurrency)
            await wait_all(storm, args.timeout)
            end = max(storm.items.values(), default=first)
            cpu = sum(server.cpu_times()[:2]) - cpu
        finally:
            await stop(proc)
    lost = args.incidents - len(storm.items)
    return Figures("alertmanager end to end", end - first, last - first, cpu, 0, lost)


def median(results: list[Figures]) -> Figures:
    return Figures(
        results[0].name,
        statistics.median(r.total for r in results),
        statistics.median(r.accepted for r in results),
        statistics.median(r.cpu for r in results),
        max(r.dups for r in results),
        max(r.lost for r in results),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase", choices=["both", "e2e", "delivery"], default="both")
    parser.add_argument("--alertmanager", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--keep-log", default="", help="copy the daemon's log here")
    parser.add_argument(
        "--receiver-concurrency", type=int, default=0, help="the receiver's concurrency key"
    )
    parser.add_argument("--profile", default="", help="py-spy the delivery phase into DIR")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_cores = cores[0], set(cores[1:]) or {cores[0]}
    os.sched_setaffinity(0, client_cores)
    storm = Storm()
    runner, port = await serve(storm.handle)
    hook = f"http://127.0.0.1:{port}/hook"
    print(
        f"{args.incidents:,} new incidents, one alert each, batches of {args.batch}, "
        f"{args.concurrency} in flight; servers on core {server_core}, this on {client_cores}"
    )
    results: dict[str, list[Figures]] = {}
    runs = []
    if args.phase in ("both", "e2e"):
        runs.append(end_to_end)
    if args.phase in ("both", "delivery"):
        runs.append(delivery)
    if args.alertmanager:
        runs.append(alertmanager)
    try:
        for round_ in range(1, args.rounds + 1):
            for run in runs:
                got = await run(storm, hook, args, server_core, round_)
                if got is not None:
                    results.setdefault(got.name, []).append(got)
                    print(f"round {round_}  {got.line()}", flush=True)
    finally:
        await runner.cleanup()
    for figures in results.values():
        print(f"median   {median(figures).line()}")


if __name__ == "__main__":
    asyncio.run(main())
