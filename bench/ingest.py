"""Ingestion throughput: Alertmanager API v2 posts to watchd and to Debian's Alertmanager.

This measures a server built from the ingest routes and the pipeline alone, to separate their
cost from the rest of the daemon's; `bench/storm.py` measures the real daemon (`watchd run`).

50,000 alerts over 1,000 label sets, in batches of 100, 8 requests in flight, to
POST /api/v2/alerts of (1) watchd's API with the ingest routes and the incident pipeline on
a durable SQLite store (WAL, a commit per request before the 200), run as a child process
configured as the daemon runs (JSON log lines at info), and (2) prometheus-alertmanager
0.25 (in-memory alerts, snapshots to disk every 15 minutes). Each server is pinned to one
core, the load generator to the other. Prints accepted alerts/s, p50/p99 request latency,
server CPU seconds and peak RSS for each of `--rounds` alternating runs (fresh store each),
then the medians and their ratio.

The first time a label set arrives the pipeline opens or joins an incident; repeats take the
dedup fast path. `--warm` sends every label set once before measuring, to show the two
apart; `--sink storing` swaps the pipeline for the plain storing sink; `--profile` writes a
cProfile of the watchd server (SQLite's own work runs in aiosqlite's thread, not shown).

    .venv/bin/python bench/ingest.py [--alerts 50000] [--label-sets 1000] [--batch 100]
        [--concurrency 8] [--rounds 3] [--warm] [--sink pipeline|storing]
        [--sqlite-sync normal|full]
        [--profile watchd.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).parents[1]

WATCHD_SERVER = """
import asyncio, cProfile, os, signal, sys
from pathlib import Path
from watchd.loading import incident_settings
from watchd.api import create_app, start_api
from watchd.app import tune_garbage_collection
from watchd.clock import SystemClock
from watchd.config import Config
from watchd.api.ingest import add_routes
from watchd.logging import configure_logging
from watchd.metrics import Metrics
from tests.storing_sink import StoringSink
from watchd.pipeline import AlertPipeline
from watchd.store import Store

async def main(db, port, log_path, kind, sync):
    configure_logging("info", "json", stream=open(log_path, "w"))
    clock = SystemClock()
    store = await Store.open(f"sqlite:///{db}", clock=clock, sqlite_sync=sync)
    if kind == "storing":
        sink = StoringSink(store)
    else:
        settings = incident_settings(Config())
        sink = AlertPipeline(store.engine, clock=clock, settings=settings)
    app = create_app(tokens={}, metrics=Metrics(), items=list, ready=lambda: True)
    add_routes(app, sink=sink, clock=clock)
    runner = await start_api(app, "127.0.0.1", port)
    tune_garbage_collection()  # as the daemon does once it has started
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await store.close()

os.sched_setaffinity(0, {int(sys.argv[4])})
args = (Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[5], sys.argv[6])
profile = sys.argv[7] if len(sys.argv) > 7 else ""
if profile:
    cProfile.run("asyncio.run(main(*args))", profile)
else:
    asyncio.run(main(*args))
"""

AM_CONFIG = """
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def bodies(alerts: int, label_sets: int, batch: int) -> list[tuple[bytes, int]]:
    """Request bodies as Prometheus would send them: firing, endsAt 4 minutes ahead."""
    now = time.time()
    starts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 60))
    ends = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now + 240))
    out = []
    for first in range(0, alerts, batch):
        payload = [
            {
                "annotations": {"summary": f"instance host{i % label_sets} is down"},
                "endsAt": ends,
                "startsAt": starts,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
                "labels": {
                    "alertname": "InstanceDown",
                    "instance": f"host{i % label_sets}:9100",
                    "job": "node",
                    "severity": "critical",
                },
            }
            for i in range(first, min(first + batch, alerts))
        ]
        out.append((json.dumps(payload).encode(), len(payload)))
    return out


@dataclass
class Result:
    name: str
    accepted: int
    failed: int
    seconds: float
    latencies: list[float]
    cpu: float
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds

    def line(self) -> str:
        return (
            f"{self.name:<22} {self.rate:>9,.0f} alerts/s  "
            f"p50 {percentile(self.latencies, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(self.latencies, 99) * 1000:6.1f} ms  "
            f"CPU {self.cpu:5.1f} s  RSS {self.rss_mb:5.0f} MB  "
            f"({self.accepted:,} accepted, {self.failed} failed requests, {self.seconds:.1f} s)"
        )


async def wait_listening(port: int, proc: asyncio.subprocess.Process, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {within:g} s")


async def load(
    name: str, url: str, proc: asyncio.subprocess.Process, work: list[tuple[bytes, int]],
    concurrency: int,
) -> Result:  # fmt: skip
    server = psutil.Process(proc.pid)
    latencies: list[float] = []
    accepted = failed = 0
    queue = list(reversed(work))
    peak_rss = 0.0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal accepted, failed
        while queue:
            body, count = queue.pop()
            began = time.perf_counter()
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                ok = resp.status == 200
            latencies.append(time.perf_counter() - began)
            if ok:
                accepted += count
            else:
                failed += 1

    async def sample_rss() -> None:
        nonlocal peak_rss
        while True:
            peak_rss = max(peak_rss, server.memory_info().rss / 2**20)
            await asyncio.sleep(0.2)

    cpu_before = sum(server.cpu_times()[:2])
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    sampler = asyncio.create_task(sample_rss())
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        began = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    sampler.cancel()
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    peak_rss = max(peak_rss, server.memory_info().rss / 2**20)
    return Result(name, accepted, failed, seconds, latencies, cpu, peak_rss)


async def warm_up(
    url: str,
    proc: asyncio.subprocess.Process,
    work: list[tuple[bytes, int]],
    args: argparse.Namespace,
) -> None:
    """With --warm, send every label set once before measuring: the steady state of repeats."""
    if args.warm:
        first = work[: -(-args.label_sets // args.batch)]
        result = await load("warm-up", url, proc, first, args.concurrency)
        print(f"  warm-up: {result.line()}")


async def stop(proc: asyncio.subprocess.Process, grace: float = 30) -> str:
    """SIGTERM, then SIGKILL after `grace` seconds; says which of them ended the server."""
    began = time.monotonic()
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"KILLED: still running {grace:.0f} s after SIGTERM"
    return f"exit status {proc.returncode} {time.monotonic() - began:.1f} s after SIGTERM"


async def bench_watchd(
    tmp: Path, work: list[tuple[bytes, int]], args: argparse.Namespace, core: int
) -> tuple[Result, int]:
    port = free_port()
    db = tmp / "watchd.db"
    argv = [sys.executable, "-c", WATCHD_SERVER, str(db), str(port), str(tmp / "watchd.log")]
    argv += [str(core), args.sink, args.sqlite_sync] + ([args.profile] if args.profile else [])
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)}
    )
    try:
        await wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        await warm_up(url, proc, work, args)
        result = await load(f"watchd ({args.sink})", url, proc, work, args.concurrency)
    finally:
        await stop(proc)
    with sqlite3.connect(db) as conn:
        stored = int(conn.execute("SELECT count(*) FROM alerts").fetchone()[0])
    return result, stored


async def bench_alertmanager(
    tmp: Path, work: list[tuple[bytes, int]], args: argparse.Namespace, core: int
) -> Result | None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        print("prometheus-alertmanager is not installed: apt-get install prometheus-alertmanager")
        return None
    port = free_port()
    (tmp / "am.yml").write_text(AM_CONFIG)
    argv = alertmanager_argv(binary, tmp, port, core)
    log = (tmp / "alertmanager.log").open("w")
    proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
    try:
        await wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        await warm_up(url, proc, work, args)
        return await load("prometheus-alertmanager", url, proc, work, args.concurrency)
    finally:
        await stop(proc)
        log.close()


def alertmanager_argv(binary: str, tmp: Path, port: int, core: int) -> list[str]:
    """Alertmanager pinned to `core`, config tmp/am.yml, no cluster, its data in tmp."""
    return [
        "taskset", "-c", str(core), binary,
        f"--config.file={tmp / 'am.yml'}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--label-sets", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--sink",
        choices=["pipeline", "storing"],
        default="pipeline",
        help="the incident pipeline (default) or the plain storing sink, to separate costs",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="send each label set once before measuring (new alerts open incidents; repeats do not)",
    )
    parser.add_argument(
        "--sqlite-sync",
        choices=["normal", "full"],
        default="normal",
        help="watchd's [store] sqlite_sync: full fsyncs every commit (power-loss safe)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each server, alternating, each on a fresh store; medians are compared",
    )
    parser.add_argument("--profile", default="", help="write a cProfile of watchd here")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_cores = cores[0], set(cores[1:]) or {cores[0]}
    os.sched_setaffinity(0, client_cores)
    work = bodies(args.alerts, args.label_sets, args.batch)
    print(
        f"{args.alerts:,} alerts over {args.label_sets:,} label sets, batches of {args.batch}, "
        f"{args.concurrency} in flight; servers on core {server_core}, client on {client_cores}"
    )
    ours: list[Result] = []
    theirs: list[Result] = []
    # Alternating rounds: this machine's speed drifts by 10-20 % within a minute, so a single
    # run of each could compare a fast moment with a slow one.
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="watchd-bench-") as tmp:
            result, stored = await bench_watchd(Path(tmp), work, args, server_core)
            ours.append(result)
            print(f"round {round_}  {result.line()}")
            print(f"{'':<30} {stored:,} distinct alerts in the store after the run")
            peer = await bench_alertmanager(Path(tmp), work, args, server_core)
        if peer is not None:
            theirs.append(peer)
            print(f"round {round_}  {peer.line()}")
    print(f"median   {_median(ours).line()}")
    if theirs:
        print(f"median   {_median(theirs).line()}")
        ratio = _median(ours).rate / _median(theirs).rate
        print(f"ratio watchd / alertmanager (medians of {args.rounds}): {ratio:.2f}x throughput")


def _median(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


if __name__ == "__main__":
    asyncio.run(main())
