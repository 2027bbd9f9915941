"""HTTP checks on the real daemon: `watchd run` side by side with Debian's blackbox_exporter.

Targets: Debian's nginx (a temp config, one worker, loopback on a free port, no access log),
pinned with this process to core 0; `--targets` (1,000) URLs /item/N, each answering a short
text body. Without nginx, a one-process aiohttp server pinned the same way stands in.

1. watchd: `watchd run -c CONFIG` (`python -m watchd.cli`) as users start it, pinned to core 1:
   one item per target with one check of kind "http" (a fresh connection per check, the
   default, and `body_regex`), `interval` = `--interval` (2 s) with a jitter of a whole
   interval, the shipped rule packs (`--rules none`: without them), JSON logs at info, a
   fresh SQLite store. After one interval of warm-up its CPU (user + system, via psutil) is
   read over `--duration` (60 s); then the store is read: the runs that started in that
   window, by status. Every target needs an OK run in the window (the body matched), else
   the run is INVALID (exit status 1).
2. blackbox_exporter: Debian's `prometheus-blackbox-exporter` (0.23; installed here with
   apt-get when missing, it is not a test dependency), pinned to core 1 after watchd, with an
   http module failing on the same regex (`fail_if_body_not_matches_regexp`); it opens a new
   connection for every probe. This process scrapes `/probe?target=URL&module=http_body` for
   every target once per interval, phases spread over the interval, over keep-alive
   connections as Prometheus does, for the same warm-up and duration; every scrape must say
   `probe_success 1`, else the run is INVALID.

The pollers run one after the other on the same core; CPU per check for both and the ratio
watchd / blackbox are printed (issue 14's target: <= 0.5), with the load average.

    .venv/bin/python bench/http_checks.py [--targets 1000] [--interval 2] [--duration 60]
        [--rules shipped|none] [--side both|watchd|exporter] [--server nginx|aiohttp]
        [--profile FILE]

`--profile FILE` records watchd with py-spy (collapsed stacks, on core 0) over the measured
window and prints the functions most samples were in.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import psutil
from ingest import free_port, stop, wait_listening
from snmp_poll import (
    Side,
    cpu_seconds,
    lag_note,
    loadavg,
    measure_window,
    metric_value,
    profile_summary,
    start_watchd,
    store_outcome,
    watch_rss,
)
from storm import log_summary

BLACKBOX = "prometheus-blackbox-exporter"
REGEX = "status: ok"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "item $uri\\nstatus: ok\\n";
        }}
    }}
}}
"""
AIOHTTP_SERVER = """
import sys
from aiohttp import web
async def ok(request):
    return web.Response(text=f"item {request.path}\\nstatus: ok\\n")
app = web.Application()
app.router.add_get("/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None,
            backlog=4096)
"""


async def start_targets(
    tmp: Path, kind: str, core: int
) -> tuple[asyncio.subprocess.Process, int, str]:
    """nginx (or an aiohttp server) on a free loopback port, pinned to `core`."""
    port = free_port()
    nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if kind == "nginx" and nginx:
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port))
        argv = ["taskset", "-c", str(core), nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
        name = "nginx"
    else:
        argv = ["taskset", "-c", str(core), sys.executable, "-c", AIOHTTP_SERVER, str(port)]
        name = "aiohttp (one process)"
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await wait_listening(port, proc)
    return proc, port, name


def target_items(urls: list[str]) -> list[str]:
    """One item per target URL, each with an HTTP check on a fresh connection and the regex."""
    lines: list[str] = []
    for i, url in enumerate(urls):
        lines += [
            "[[items]]",
            f'name = "web{i}"',
            'address = "127.0.0.1"',
            "  [[items.checks]]",
            '  name = "http"',
            '  kind = "http"',
            f'  url = "{url}"',
            f"  body_regex = '{REGEX}'",
            "  fresh_connection = true",
            "",
        ]
    return lines


async def bench_watchd(urls: list[str], core: int, args: argparse.Namespace) -> Side:
    side = Side("watchd")
    with tempfile.TemporaryDirectory(prefix="watchd-http-") as name:
        tmp = Path(name)
        items = target_items(urls)
        proc, port = await start_watchd(tmp, core, items, args, min(5.0, args.interval))
        window = await measure_window(proc, port, side, args)
        side.due = len(urls) * side.seconds / args.interval
        side.notes += [
            lag_note(window.text, window.first),
            window.stopped,
            log_summary(tmp / "watchd.log"),
        ]
        names = [f"web{i}" for i in range(len(urls))]
        store_outcome(side, tmp, window.since, window.until, names, "targets without an OK check")
        side.varbinds = side.ok
    return side


def blackbox_binary() -> str:
    """The exporter's path, installing Debian's package when it is missing (root only)."""
    found = shutil.which(BLACKBOX)
    if found is None:
        print(f"{BLACKBOX} is missing: apt-get install -y {BLACKBOX}", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", BLACKBOX], check=False)
        found = shutil.which(BLACKBOX)
    if found is None:
        raise SystemExit(f"{BLACKBOX} could not be installed")
    return found


def blackbox_module(timeout: float) -> str:
    return (
        "modules:\n  http_body:\n    prober: http\n"
        f"    timeout: {timeout:g}s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
        f'      fail_if_body_not_matches_regexp: ["{REGEX}"]\n'
    )


async def bench_blackbox(urls: list[str], core: int, args: argparse.Namespace) -> Side:
    side = Side("blackbox")
    binary = blackbox_binary()
    with tempfile.TemporaryDirectory(prefix="blackbox-") as name:
        tmp = Path(name)
        (tmp / "blackbox.yml").write_text(blackbox_module(min(5.0, args.interval)))
        port = free_port()
        argv = ["taskset", "-c", str(core), binary, f"--config.file={tmp / 'blackbox.yml'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
        log = (tmp / "blackbox.log").open("w")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        log.close()
        ps = psutil.Process(proc.pid)
        window = [math.inf, math.inf]
        results: list[tuple[float, bool]] = []
        errors: Counter[str] = Counter()
        try:
            await wait_listening(port, proc)
            connector = aiohttp.TCPConnector(limit=300)
            timeout = aiohttp.ClientTimeout(total=args.interval + 10)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

                async def target(url: str) -> None:
                    params = {"target": url, "module": "http_body"}
                    due = time.monotonic() + random.uniform(0, args.interval)
                    while True:
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        started, ok = time.time(), False
                        try:
                            async with http.get(
                                f"http://127.0.0.1:{port}/probe", params=params
                            ) as resp:
                                body = await resp.text()
                            ok = resp.status == 200 and metric_value(body, "probe_success") == 1
                            if not ok:
                                errors[f"HTTP {resp.status} probe_success "
                                       f"{metric_value(body, 'probe_success'):g}"] += 1  # fmt: skip
                        except (aiohttp.ClientError, TimeoutError) as exc:
                            errors[type(exc).__name__] += 1
                        results.append((started, ok))
                        due = max(due + args.interval, time.monotonic())

                tasks = [asyncio.create_task(target(url)) for url in urls]
                done = asyncio.Event()
                rss = asyncio.create_task(watch_rss(ps, side, done))
                await asyncio.sleep(args.interval + args.warmup)
                cpu0, window[0] = cpu_seconds(ps), time.time()
                await asyncio.sleep(args.duration)
                cpu1, window[1] = cpu_seconds(ps), time.time()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                done.set()
                await rss
        finally:
            stopped = await stop(proc, 10)
        side.spent(cpu0, cpu1)
        side.seconds = window[1] - window[0]
        side.due = len(urls) * side.seconds / args.interval
        inside = [ok for started, ok in results if window[0] <= started < window[1]]
        side.polls = len(inside)
        side.ok = side.varbinds = sum(inside)
        side.notes.append(stopped)
        if side.ok != side.polls:
            side.problems.append(
                f"{side.polls - side.ok} probes failed: "
                + ", ".join(f"{n}x {e}" for e, n in errors.most_common(3))
            )
    return side


def line(side: Side) -> str:
    """Side.line in checks rather than polls and varbinds."""
    per_check = side.cpu / max(side.polls, 1) * 1000
    text = (
        f"{side.name:<9} CPU {side.cpu:6.2f} s{side.kernel_share()} in {side.seconds:.0f} s "
        f"({side.cpu / max(side.seconds, 1e-9) * 100:3.0f}% of a core); "
        f"{side.polls:,} checks ({side.due:,.0f} due), {side.ok:,} OK; "
        f"{per_check:.3f} ms CPU per check; peak RSS {side.rss_peak_mb:.0f} MB"
    )
    if side.polls < 0.95 * side.due:
        side.notes.append(f"NOT KEPT UP: {side.polls:,} of {side.due:,.0f} due checks started")
    for note in side.notes:
        text += f"\n{'':<10}{note}"
    for problem in side.problems:
        text += f"\n{'':<10}INVALID: {problem}"
    return text


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between checks")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds after the first round")
    parser.add_argument("--rules", choices=["shipped", "none"], default="shipped")
    parser.add_argument("--side", choices=["both", "watchd", "exporter"], default="both")
    parser.add_argument("--server", choices=["nginx", "aiohttp"], default="nginx")
    parser.add_argument("--profile", default="", help="py-spy collapsed stacks of watchd here")
    # snmp_poll.start_watchd's option, which this bench does not offer: the daemon untraced.
    parser.set_defaults(tracemalloc=None)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    poller, others = cores[-1], cores[0]
    os.sched_setaffinity(0, {others})
    args.others = others
    with tempfile.TemporaryDirectory(prefix="http-targets-") as name:
        server, port, kind = await start_targets(Path(name), args.server, others)
        try:
            urls = [f"http://127.0.0.1:{port}/item/{i}" for i in range(args.targets)]
            print(
                f"{kind} and this process on core {others}, the poller on core {poller}; "
                f"{args.targets:,} targets every {args.interval:g} s "
                f"({args.targets / args.interval:,.0f} checks/s due), body regex {REGEX!r}, "
                f"a fresh connection per check; {args.duration:g} s measured after "
                f"{args.interval + args.warmup:g} s of warm-up, one poller after the other; "
                f"rules {args.rules}; load average {loadavg()}",
                flush=True,
            )
            sides: list[Side] = []
            if args.side in ("both", "watchd"):
                sides.append(await bench_watchd(urls, poller, args))
                print(line(sides[-1]), flush=True)
                if args.profile:
                    print(profile_summary(args.profile), flush=True)
            if args.side in ("both", "exporter"):
                sides.append(await bench_blackbox(urls, poller, args))
                print(line(sides[-1]), flush=True)
            if len(sides) == 2:
                ours, theirs = sides
                ratio = ours.per_poll / theirs.per_poll
                print(
                    f"ratio watchd / blackbox_exporter: CPU per check {ratio:.2f}: "
                    f"target <= 0.5 {'MET' if ratio <= 0.5 else 'NOT MET'}"
                )
            print(f"load average {loadavg()}")
        finally:
            await stop(server, 10)
    return 1 if any(side.problems for side in sides) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
