"""Soak: the real daemon (`watchd run`, SQLite, JSON logs at info) under mixed load for a while.

Load, all at once for `--minutes` (default 30):
- checks: the local probes of this host every 10 s; `--flappers` items (default 10) each with a
  nagios plugin and an http check of this process's server that turn CRITICAL and OK again on
  their own cycles (40-90 s), so they flap (and open, resolve, reopen incidents);
- Alertmanager-style posts to POST /api/v2/alerts as Prometheus sends them: every 2 s the
  `--label-sets` (default 500) steady label sets, in batches of 100, each firing for four
  minutes in five and resolved (endsAt now) in the fifth; every 3 minutes a burst of
  `--burst` (default 400) new label sets in 4 concurrent requests, resolved a minute later;
- events to POST /api/v1/events: one a second over 50 items, firing and resolved in turn;
- two webhook receivers in this process: `good` answers 200; `flaky` answers 503 to a quarter
  of the requests and is too slow (past its 2 s timeout, so the daemon retries what did
  arrive) for one in twenty; its max_age is 3 minutes.

Measured: the daemon's RSS and open descriptors every 5 s (growth = the median of the last
tenth of the run over the median of the minute after the warm-up, the first sixth); p50, p90,
p99 and max of the ingest posts; then the load stops, the outbox drains, the daemon is stopped
(SIGTERM) and its store is compared with what the receivers got:
- lost: outbox rows the daemon recorded as delivered that no receiver answered 200 for, plus
  rows still pending; rows recorded as failed or expired are counted, not lost;
- duplicates with the same key (a retry of a delivery whose answer was lost: the receiver
  can tell by Idempotency-Key) are counted; duplicates without the same key are two
  notifications of one incident event that a receiver cannot tell apart: a receiver getting
  the same state change (opened, resolved, ...) twice in a row for one incident under
  different keys, or two incidents open at once for one incident key.

    .venv/bin/python bench/soak.py [--minutes 30] [--flappers 10] [--label-sets 500]
        [--burst 400] [--keep DIR] [--tracemalloc DIR | --stats DIR] [--snap-every 300]

With --stats the daemon runs under bench/memtrace.py without tracing, which writes a line of
DIR/stats.tsv every --snap-every seconds: where the RSS is (glibc's heap, pymalloc's arenas,
SQLite's memory) at the daemon's own speed. With --tracemalloc it also writes a tracemalloc
snapshot each time (`memtrace.py diff` shows what grew between two; tracing costs CPU
and memory of its own, so such a run's figures are not the daemon's).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).parents[1]
STATE_KINDS = frozenset({"opened", "reopened", "resolved", "acknowledged", "closed"})
FLAP_PLUGIN = """#!/bin/sh
# CRITICAL for half of a cycle of $1 seconds, OK for the other half; OK once the load is over.
if [ -e "$(dirname "$0")/calm" ]; then echo "OK - calm|v=1"; exit 0; fi
if [ $(( $(date +%s) / ($1 / 2) % 2 )) -eq 0 ]; then echo "OK - up|v=1"; exit 0; fi
echo "CRITICAL - down|v=0"; exit 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


@dataclass
class Receipts:
    """What one webhook path answered: keys answered 200 (with how often), and their events."""

    ok: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    slow: int = 0
    # key -> incident id, event seq, event kind, incident item
    kinds: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)


class Peer:
    """The webhook receivers (/good, /flaky) and the flapping http endpoints (/flap/N)."""

    def __init__(self, seed: int) -> None:
        self.paths: dict[str, Receipts] = {"good": Receipts(), "flaky": Receipts()}
        self.rng = random.Random(seed)
        self.started = time.time()
        self.calm = False  # the load is over: the flapping endpoints stay up

    async def hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        got = self.paths[name]
        doc = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        if name == "flaky":
            roll = self.rng.random()
            if roll < 0.25:
                got.refused += 1
                return web.Response(status=503, text="try later")
            if roll < 0.30:
                got.slow += 1
                await asyncio.sleep(2.5)  # past the receiver's 2 s timeout: arrived, not known
        incident, _, seq = key.partition(":")
        kind = str(doc.get("event", {}).get("kind", ""))
        got.kinds[key] = (int(incident), int(seq), kind, str(doc["incident"].get("item", "")))
        got.ok[key] += 1
        return web.Response(text="ok")

    async def flap(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        cycle = 60 + 10 * (n % 4)
        down = int((time.time() - self.started + 7 * n) // (cycle / 2)) % 2
        return web.Response(status=500 if down and not self.calm else 200, text="flap")

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application()
        app.router.add_post("/hook/{name}", self.hook)
        app.router.add_get("/flap/{n}", self.flap)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, port


def config(tmp: Path, api_port: int, peer_port: int, flappers: int) -> Path:
    plugin = tmp / "flap.sh"
    plugin.write_text(FLAP_PLUGIN)
    plugin.chmod(0o755)
    peer = f"http://127.0.0.1:{peer_port}"
    text = f"""
[daemon]
state_dir = "state"
log_format = "json"
log_level = "info"

[api]
listen = "127.0.0.1:{api_port}"

[check_defaults]
interval = "10s"
timeout = "5s"
jitter = "2s"
retry_interval = "5s"
max_attempts = 2
recover_attempts = 1

[[items]]
name = "localhost"
address = "127.0.0.1"
"""
    for probe in ("cpu", "memory", "load", "disk", "diskio", "netio"):
        text += f'  [[items.checks]]\n  name = "{probe}"\n  kind = "local"\n  probe = "{probe}"\n'
    for n in range(flappers):
        text += f"""
[[items]]
name = "flap{n}"
address = "127.0.0.1"
  [[items.checks]]
  name = "plugin"
  kind = "nagios"
  command = ["{plugin}", "{40 + 10 * (n % 6)}"]
  [[items.checks]]
  name = "http"
  kind = "http"
  url = "{peer}/flap/{n}"
"""
    text += f"""
[[receivers]]
name = "good"
kind = "webhook"
url = "{peer}/hook/good"
timeout = "2s"

[[receivers]]
name = "flaky"
kind = "webhook"
url = "{peer}/hook/flaky"
timeout = "2s"
max_age = "3m"
backoff_max = "20s"

[route]
group_wait = "0s"
repeat_interval = "10m"
"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


@dataclass
class Load:
    """The load generator's record: each post's latency (s) and answer status."""

    # kind -> (seconds since the load started, latency in seconds) per post
    latencies: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    began: float = field(default_factory=time.perf_counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    alerts: int = 0
    events: int = 0
    # burst items whose firing / resolved post was accepted: each must reach both receivers
    burst_fired: set[str] = field(default_factory=set)
    burst_resolved: set[str] = field(default_factory=set)

    async def post(self, http: aiohttp.ClientSession, url: str, kind: str, body: bytes) -> int:
        started = time.perf_counter()
        try:
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):  # a post unanswered in 5 minutes fails,
            status = 0  # it does not end the soak (three runs on a load-20 box did)
        done = time.perf_counter()
        self.latencies[kind].append((started - self.began, done - started))
        self.statuses[(kind, status)] += 1
        return status

    def percentiles(self, since: float = 0.0) -> dict[str, dict[str, float]]:
        """p50/p90/p99/max (ms) per kind of post, of those started `since` s into the load."""
        out = {}
        for kind, pairs in self.latencies.items():
            values = [lat for at, lat in pairs if at >= since]
            if values:
                out[kind] = {
                    "n": len(values),
                    "p50": quantile(values, 50) * 1000,
                    "p90": quantile(values, 90) * 1000,
                    "p99": quantile(values, 99) * 1000,
                    "max": max(values) * 1000,
                }
        return out


def am_alert(labels: dict[str, str], starts: float, ends: float) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {"summary": f"{labels.get('instance', '')} is down"},
        "startsAt": stamp(starts),
        "endsAt": stamp(ends),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
    }


async def steady(http: aiohttp.ClientSession, base: str, load: Load, sets: int, end: float) -> None:
    """Prometheus' resends: every 2 s all steady label sets; firing 4 minutes in 5."""
    began = time.time()
    while (now := time.time()) < end:
        minute = int((now - began) // 60)
        alerts = []
        for i in range(sets):
            phase = (minute + i) % 5  # 1-4 firing, 0 resolved at the start of this minute
            labels = {
                "alertname": "SoakDown",
                "instance": f"host{i}:9100",
                "item": f"host{i}",
                "job": "node",
                "severity": "critical" if i % 3 else "warning",
            }
            if phase:
                starts = began + (minute - phase + 1) * 60
                alerts.append(am_alert(labels, starts, now + 240))
            else:
                alerts.append(am_alert(labels, began + (minute - 4) * 60, began + minute * 60))
        for first in range(0, len(alerts), 100):
            batch = alerts[first : first + 100]
            load.alerts += len(batch)
            await load.post(http, base + "/api/v2/alerts", "alerts", json.dumps(batch).encode())
        await asyncio.sleep(max(0.0, 2 - (time.time() - now)))


async def bursts(http: aiohttp.ClientSession, base: str, load: Load, size: int, end: float) -> None:
    """Every 3 minutes `size` new label sets at once; resolved a minute later."""
    n = 0
    await asyncio.sleep(30)
    while time.time() < end - 90:
        n += 1
        now = time.time()
        alerts = [
            am_alert(
                {"alertname": "SoakBurst", "item": f"burst{n}-{i}", "severity": "critical"},
                now,
                now + 240,
            )
            for i in range(size)
        ]
        await burst(http, base, load, alerts, load.burst_fired)
        await asyncio.sleep(60)
        for alert in alerts:
            alert["endsAt"] = stamp(time.time())
        await burst(http, base, load, alerts, load.burst_resolved)
        await asyncio.sleep(max(0.0, 180 - (time.time() - now)))


async def burst(
    http: aiohttp.ClientSession,
    base: str,
    load: Load,
    alerts: list[dict[str, Any]],
    accepted: set[str],
) -> None:
    """`alerts` in 4 concurrent posts; the items of those answered 200 go to `accepted`."""
    parts = [alerts[q::4] for q in range(4)]
    load.alerts += len(alerts)
    statuses = await asyncio.gather(
        *(load.post(http, base + "/api/v2/alerts", "burst", json.dumps(p).encode()) for p in parts)
    )
    for part, status in zip(parts, statuses, strict=True):
        if status == 200:
            accepted.update(a["labels"]["item"] for a in part)


async def events(http: aiohttp.ClientSession, base: str, load: Load, end: float) -> None:
    """One event a second over 50 items, each firing then resolved on its next turn."""
    n = 0
    firing: set[int] = set()
    while time.time() < end:
        item = n % 50
        status = "resolved" if item in firing else "firing"
        firing.symmetric_difference_update({item})
        event = {
            "source": "soak",
            "item": f"app{item}",
            "check": "errors",
            "severity": "warning",
            "status": status,
            "summary": f"error rate on app{item}",
            "labels": {"team": "soak"},
        }
        load.events += 1
        await load.post(http, base + "/api/v1/events", "events", json.dumps(event).encode())
        n += 1
        await asyncio.sleep(1)


@dataclass
class Sampler:
    """The daemon's RSS (MB) and open descriptors every 5 s, with the time since start."""

    samples: list[tuple[float, float, int, float]] = field(default_factory=list)

    async def run(self, pid: int, end: float) -> None:
        proc = psutil.Process(pid)
        started = time.time()
        while time.time() < end:
            with proc.oneshot():
                cpu = proc.cpu_times()
                self.samples.append(
                    (
                        time.time() - started,
                        proc.memory_info().rss / 2**20,
                        proc.num_fds(),
                        cpu.user + cpu.system,
                    )
                )
            await asyncio.sleep(5)

    def growth(self, warmup: float) -> dict[str, float]:
        total = self.samples[-1][0]
        after = [s for s in self.samples if warmup <= s[0] < warmup + 60] or self.samples[:1]
        last = [s for s in self.samples if s[0] >= total * 0.9] or self.samples[-1:]
        out = {}
        for name, idx in (("rss", 1), ("fds", 2)):
            base = statistics.median(s[idx] for s in after)
            tail = statistics.median(s[idx] for s in last)
            out[f"{name}_after_warmup"] = base
            out[f"{name}_end"] = tail
            out[f"{name}_max"] = max(s[idx] for s in self.samples)
            out[f"{name}_growth_pct"] = (tail - base) / base * 100 if base else 0.0
        first, final = after[0], self.samples[-1]
        out["cpu_share_after_warmup"] = (final[3] - first[3]) / max(1.0, final[0] - first[0])
        return out


def outstanding(db: Path) -> set[tuple[str, str]]:
    """The (receiver, key) of the outbox rows not done yet."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT receiver, idempotency_key FROM outbox WHERE state IN ('pending', 'delivering')"
        ).fetchall()
    return {(str(r), str(k)) for r, k in rows}


def account(
    db: Path, peer: Peer, load: Load, left_at_stop: set[tuple[str, str]]
) -> dict[str, object]:
    """The store's outbox against what the receivers answered 200 for, and the bursts' alerts
    against the notifications each receiver got for them."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT receiver, idempotency_key, state FROM outbox").fetchall()
        incidents = conn.execute(
            "SELECT key, opened_at, coalesce(resolved_at, closed_at), state, id FROM incidents "
            "ORDER BY key, opened_at"
        ).fetchall()
    states: Counter[tuple[str, str]] = Counter((r, s) for r, _, s in rows)
    lost = []
    left = []
    recorded = set()
    for receiver, key, state in rows:
        recorded.add((receiver, key))
        if state == "delivered" and peer.paths[receiver].ok[key] == 0:
            lost.append((receiver, key, "recorded delivered, never answered 200"))
        elif state in ("pending", "delivering") and (receiver, key) in left_at_stop:
            lost.append((receiver, key, f"left {state} at the stop, still {state} after a restart"))
        elif state in ("pending", "delivering"):
            left.append((receiver, key, state))  # made after the load, kept for the next start
    unknown = [
        (name, key)
        for name, got in peer.paths.items()
        for key in got.ok
        if (name, key) not in recorded
    ]
    same_key = {name: sum(n - 1 for n in got.ok.values()) for name, got in peer.paths.items()}
    # Without the same key: one receiver told the same state change twice in a row, or two
    # incidents open at once for one key.
    repeated = []
    for name, got in peer.paths.items():
        by_incident: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for incident, seq, kind, _ in got.kinds.values():
            by_incident[incident].append((seq, kind))
        for incident, seen in by_incident.items():
            kinds = [k for _, k in sorted(seen) if k in STATE_KINDS]
            repeated += [(name, incident, a) for a, b in itertools.pairwise(kinds) if a == b]
    overlapping = []
    last: dict[str, tuple[float | None, int]] = {}
    for key, opened, ended, _state, incident in incidents:
        if key in last:
            prev_end, prev_id = last[key]
            if prev_end is None or prev_end > opened:
                overlapping.append((key, prev_id, incident))
        last[key] = (ended, incident)
    # End to end, whatever the store says: each accepted burst alert opened an incident of its
    # own and resolved it, and both receivers must have been told both.
    missing = []
    for name, got in peer.paths.items():
        told = {(item, kind) for _, _, kind, item in got.kinds.values()}
        missing += [(name, i, "opened") for i in load.burst_fired if (i, "opened") not in told]
        missing += [
            (name, i, "resolved") for i in load.burst_resolved if (i, "resolved") not in told
        ]
    return {
        "burst_alerts_fired": len(load.burst_fired),
        "burst_alerts_resolved": len(load.burst_resolved),
        "burst_notifications_missing": missing,
        "outbox": {f"{r}/{s}": n for (r, s), n in sorted(states.items())},
        "notifications": len(rows),
        "incidents": len(incidents),
        "lost": lost,
        "left_at_stop": len(left_at_stop),
        "left_at_final_stop": left,
        "unknown": unknown,
        "same_key_duplicates": same_key,
        "repeated_state_changes": repeated,
        "overlapping_incidents": overlapping,
        "refused_by_flaky": peer.paths["flaky"].refused,
        "too_slow_at_flaky": peer.paths["flaky"].slow,
    }


async def stop(proc: asyncio.subprocess.Process, grace: float = 30) -> float:
    started = time.perf_counter()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1.0
    return time.perf_counter() - started


async def wait_ready(url: str, proc: asyncio.subprocess.Process, seconds: float = 60) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 10)):
            if proc.returncode is not None:
                raise RuntimeError(f"watchd exited with {proc.returncode} before it was ready")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


async def start_daemon(
    tmp: Path, path: Path, api_port: int, trace: list[str] | None = None
) -> asyncio.subprocess.Process:
    """`watchd run` as a user starts it, its log appended to watchd.log; once /readyz says so.

    With `trace` (memtrace.py's run options), under bench/memtrace.py: tracemalloc snapshots.
    """
    runner = [str(ROOT / "bench" / "memtrace.py"), "run", *trace] if trace else ["-m"]
    with (tmp / "watchd.log").open("a") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *runner, "watchd.cli", "run", "-c", str(path),
            stdout=log, stderr=log, cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    # Traced, the daemon starts two to three times slower: on a busy machine, minutes.
    await wait_ready(f"http://127.0.0.1:{api_port}/readyz", proc, 300 if trace else 60)
    return proc


async def drained(db: Path, seconds: float, keys: set[tuple[str, str]] | None = None) -> float:
    """Wait (at most `seconds`) until no outbox row is outstanding, or none of `keys`."""
    started = time.perf_counter()
    for _ in range(int(seconds / 2)):
        left = outstanding(db)
        if not (left if keys is None else left & keys):
            break
        await asyncio.sleep(2)
    return time.perf_counter() - started


async def soak(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    peer = Peer(args.seed)
    runner, peer_port = await peer.start()
    api_port = free_port()
    path = config(tmp, api_port, peer_port, args.flappers)
    db = tmp / "state" / "watchd.db"
    base = f"http://127.0.0.1:{api_port}"
    proc: asyncio.subprocess.Process | None = None
    try:
        trace = None
        if args.tracemalloc or args.stats:
            out = (args.tracemalloc or args.stats).resolve()
            trace = ["--out", str(out), "--every", str(args.snap_every)]
            trace += [] if args.tracemalloc else ["--no-trace"]
        proc = await start_daemon(tmp, path, api_port, trace)
        seconds = args.minutes * 60
        end = time.time() + seconds
        load = Load()
        sampler = Sampler()
        print(f"watchd pid {proc.pid} ready; load for {args.minutes:g} min (log: {tmp}/watchd.log)")
        connector = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(
                sampler.run(proc.pid, end),
                steady(http, base, load, args.label_sets, end),
                bursts(http, base, load, args.burst, end),
                events(http, base, load, end),
            )
        warmup = max(30.0, seconds / 6)
        # Calm: the flapping checks recover (a minute: interval, retries), the outbox drains.
        peer.calm = True
        (tmp / "calm").touch()
        await asyncio.sleep(min(60.0, seconds / 4))
        drain = await drained(db, args.drain)
        stop_seconds = await stop(proc)
        # Rows a late change (an alert's own end, a check) left behind are kept for the next
        # start: start again and see them delivered.
        left_at_stop = outstanding(db)
        restart: float | str = 0.0
        if left_at_stop:
            try:
                proc = await start_daemon(tmp, path, api_port)
                restart = await drained(db, 120, left_at_stop)
                await stop(proc)
            except (RuntimeError, OSError, sqlite3.Error) as exc:
                restart = f"the restart failed: {exc!r}"
    finally:
        if proc is not None:
            await stop(proc)
        await runner.cleanup()
    errors = sum(
        1 for line in (tmp / "watchd.log").read_text().splitlines() if '"level": "error"' in line
    )
    return {
        "minutes": args.minutes,
        "alerts_posted": load.alerts,
        "events_posted": load.events,
        "post_statuses": {f"{k}/{s}": n for (k, s), n in sorted(load.statuses.items())},
        "latency_ms": load.percentiles(),
        "latency_ms_after_warmup": load.percentiles(since=warmup),
        "resources": sampler.growth(warmup),
        "samples": sampler.samples,  # (s since start, RSS MB, descriptors, CPU s): the curve
        "log_bytes": (tmp / "watchd.log").stat().st_size,
        "drain_seconds": drain,
        "stop_seconds": stop_seconds,
        "drain_after_restart_seconds": restart,
        "error_log_lines": errors,
        **account(db, peer, load, left_at_stop),
    }


def report(result: dict[str, object]) -> None:
    res = result["resources"]
    assert isinstance(res, dict)
    shown = {
        k: {"count": len(v), "first": v[:5]} if isinstance(v, list) else v
        for k, v in result.items()
    }
    print(json.dumps(shown, indent=1, default=str))
    lost = result["lost"]
    missing = result["burst_notifications_missing"]
    assert isinstance(missing, list)
    repeated = result["repeated_state_changes"]
    overlapping = result["overlapping_incidents"]
    assert isinstance(lost, list) and isinstance(repeated, list) and isinstance(overlapping, list)
    print(
        f"\nRSS {res['rss_after_warmup']:.0f} -> {res['rss_end']:.0f} MB "
        f"({res['rss_growth_pct']:+.1f} %, max {res['rss_max']:.0f}); descriptors "
        f"{res['fds_after_warmup']:.0f} -> {res['fds_end']:.0f} ({res['fds_growth_pct']:+.1f} %, "
        f"max {res['fds_max']:.0f}); lost {len(lost)}; duplicates without the same key "
        f"{len(repeated) + len(overlapping)}; with the same key {result['same_key_duplicates']}; "
        f"burst notifications missing {len(missing)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--flappers", type=int, default=10)
    parser.add_argument("--label-sets", type=int, default=500)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--drain", type=float, default=240, help="seconds to wait for the outbox")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--tracemalloc", type=Path, help="run the daemon under memtrace.py, snapshots here"
    )
    parser.add_argument(
        "--stats", type=Path, help="run the daemon under memtrace.py --no-trace, stats here"
    )
    parser.add_argument("--snap-every", type=float, default=300, help="seconds between snapshots")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(soak(args, args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(soak(args, Path(tmp)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    report(result)


if __name__ == "__main__":
    main()
