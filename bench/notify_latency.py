"""Notification latency and throughput: an alert's arrival to its webhook's receipt.

(1) Latency: 500 alerts, each a new notification group, posted one at a time to
POST /api/v2/alerts of the real daemon (`watchd run`, SQLite, JSON logs at info) whose route
has group_wait 0; the time from the POST to the webhook request reaching a loopback receiver
in this process. p50/p99/max are printed, with the POST's own time (the alert pipeline's
commit; watchd answers 200 only once the incident and its outbox rows are stored) and the
time from the 200 to the webhook's receipt (the dispatcher's share). The same run against Debian's
prometheus-alertmanager (group_wait 0s, group_by item) when it is installed.
(2) Throughput: 1,000 new incidents, posted in batches of 100, to 3 webhook receivers:
time until all 3,000 notifications arrived, and deliveries per second.

    .venv/bin/python bench/notify_latency.py [--groups 500] [--incidents 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Loopback webhook endpoints /r0, /r1, ... recording when each item's first notification came."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, str], float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.count = 0
        self.done = asyncio.Event()
        self.expect = 0

    async def handle(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        doc = await request.json()
        path = request.path
        for alert in doc.get("alerts", []):
            item = alert["labels"].get("item", "")
            key = (path, item)
            if key not in self.arrived:
                self.arrived[key] = now
                self.count += 1
                waiter = self.waiters.pop(item, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
        if self.expect and self.count >= self.expect:
            self.done.set()
        return web.Response(text="ok")

    async def start(self) -> tuple[web.AppRunner, int]:
        return await serve(self.handle)


async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, int]:
    """A loopback HTTP server answering POST /<any name> with `handler`: (runner, port)."""
    app = web.Application()
    app.router.add_post("/{name}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def alert(item: str) -> dict[str, object]:
    return {
        "labels": {"alertname": "BenchDown", "item": item, "severity": "critical"},
        "annotations": {"summary": f"{item} is down"},
    }


async def wait_http(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within 30 s")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def start_watchd(tmp: Path, receivers: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    text = (
        f'[daemon]\nstate_dir = "state"\nlog_format = "json"\n[api]\nlisten = "127.0.0.1:{port}"\n'
    )
    for i, url in enumerate(receivers):
        text += f'[[receivers]]\nname = "r{i}"\nkind = "webhook"\nurl = "{url}"\n'
    text += '[route]\ngroup_wait = "0s"\n'
    (tmp / "config.toml").write_text(text)
    log = (tmp / "watchd.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "watchd.cli", "run", "-c", str(tmp / "config.toml"),
        stdout=log, stderr=log, cwd=tmp,
    )  # fmt: skip
    await wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc, f"http://127.0.0.1:{port}/api/v2/alerts"


async def start_alertmanager(
    tmp: Path, url: str, core: int | None = None
) -> tuple[asyncio.subprocess.Process, str] | None:
    """Alertmanager with a webhook receiver at `url` (group_by item, group_wait 0), pinned to
    `core` when given; None when it is not installed."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        print("prometheus-alertmanager is not installed: apt-get install prometheus-alertmanager")
        return None
    port = free_port()
    (tmp / "am.yml").write_text(
        "route:\n  receiver: hook\n  group_by: [item]\n  group_wait: 0s\n"
        "  group_interval: 5m\n  repeat_interval: 4h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n"
    )
    log = (tmp / "am.log").open("w")
    pin = ["taskset", "-c", str(core)] if core is not None else []
    proc = await asyncio.create_subprocess_exec(
        *pin, binary, f"--config.file={tmp / 'am.yml'}", f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        stdout=log, stderr=log,
    )  # fmt: skip
    await wait_http(f"http://127.0.0.1:{port}/-/ready", proc)
    return proc, f"http://127.0.0.1:{port}/api/v2/alerts"


async def latency(
    name: str, post_url: str, receiver: Receiver, groups: int, prefix: str
) -> list[float]:
    """Post one new group at a time; the time until its webhook arrives (ms)."""
    loop = asyncio.get_running_loop()
    out = []
    answered: list[float] = []
    after: list[float] = []
    async with aiohttp.ClientSession() as http:
        for i in range(groups):
            item = f"{prefix}{i}"
            waiter = loop.create_future()
            receiver.waiters[item] = waiter
            started = time.perf_counter()
            async with http.post(post_url, json=[alert(item)]) as resp:
                assert resp.status == 200, await resp.text()
            done = time.perf_counter()
            arrived = await asyncio.wait_for(waiter, 10)
            out.append((arrived - started) * 1000)
            answered.append((done - started) * 1000)
            after.append((arrived - done) * 1000)
    q = statistics.quantiles(out, n=100)
    print(
        f"{name}: {groups} new groups, alert POST -> webhook receipt: "
        f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {max(out):.1f} ms "
        f"(the POST's 200: p50 {statistics.median(answered):.1f} ms; receipt after the 200: "
        f"p50 {statistics.median(after):.1f} ms, p99 {statistics.quantiles(after, n=100)[98]:.1f} ms)"
    )
    return out


async def throughput(post_url: str, receiver: Receiver, incidents: int, receivers: int) -> float:
    receiver.count = 0
    receiver.arrived.clear()
    receiver.expect = incidents * receivers
    receiver.done.clear()
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for start in range(0, incidents, 100):
            batch = [alert(f"t{i}") for i in range(start, min(incidents, start + 100))]
            async with http.post(post_url, json=batch) as resp:
                assert resp.status == 200
    posted = time.perf_counter() - started
    await asyncio.wait_for(receiver.done.wait(), 600)
    took = time.perf_counter() - started
    rate = receiver.expect / took
    print(
        f"watchd: {incidents} incidents x {receivers} receivers = {receiver.expect} notifications "
        f"in {took:.2f} s ({rate:.0f} deliveries/s; alerts posted in {posted:.2f} s), none lost"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=1000)
    args = parser.parse_args()
    receiver = Receiver()
    runner, port = await receiver.start()
    urls = [f"http://127.0.0.1:{port}/r{i}" for i in range(3)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            proc, post = await start_watchd(Path(tmp), urls[:1])
            try:
                ours = await latency("watchd", post, receiver, args.groups, "w")
            finally:
                await stop(proc)
        with tempfile.TemporaryDirectory() as tmp:
            am = await start_alertmanager(Path(tmp), f"http://127.0.0.1:{port}/am")
            if am is not None:
                try:
                    theirs = await latency("alertmanager", am[1], receiver, args.groups, "a")
                finally:
                    await stop(am[0])
                print(
                    f"ratio watchd / alertmanager p50: "
                    f"{statistics.median(ours) / statistics.median(theirs):.2f}x"
                )
        with tempfile.TemporaryDirectory() as tmp:
            proc, post = await start_watchd(Path(tmp), urls)
            try:
                await throughput(post, receiver, args.incidents, 3)
            finally:
                await stop(proc)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
