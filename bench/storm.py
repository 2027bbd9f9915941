"""Alert storms on the real daemon: `watchd run` side by side with Debian's Alertmanager.

The daemon is started as users start it, `watchd run -c CONFIG` (`python -m watchd.cli`), on a
config with the shipped rule packs (`rules/*.yaml`, as config.toml has them), one webhook
receiver on the default route (no wait), JSON logs at info and a fresh SQLite store in a temp
dir (`--store postgresql`: a throwaway database on 127.0.0.1:5432 per run, whose backends'
CPU is shown apart: PostgreSQL is not pinned). The peer is
prometheus-alertmanager 0.25 (`scripts/test.sh` installs it). Each server is pinned to one core;
this process (the load generator and the webhook receiver) runs on the other. Loads, posted to
POST /api/v2/alerts in batches of `--batch` (100), `--concurrency` (8) in flight:

- baseline: `--alerts` (50,000) over 2,000 label sets without item/check labels: 50 alertnames
  x 40 instances, so 50 incidents (watchd groups by alertname when no group_by label is there);
- storm: `--alerts` over alerts/5 label sets on alerts/10 items, two alertnames per item, each
  label set sent 5 times: alerts/10 new incidents (5,000 by default);
- storm-e2e: alerts/10 new items, one alert each; both servers notify the webhook receiver in
  this process (Alertmanager: group_by [item], group_wait 0s). Measured from the first POST
  until the receiver has a notification for every item; the POSTs' own time is shown apart;
- rss: `--rss-alerts` (100,000) distinct label sets on the baseline's 50 alertnames, all firing:
  the server's peak RSS while they arrive and its RSS after `--settle` seconds idle;
- storm-join (not in the default `--load`): an outage's second wave. First, not measured,
  NodeDown on alerts/10 items (storm-e2e's alerts, alerts/10 incidents), until watchd's
  receiver has a notification for every item and each server's CPU is idle for a second;
  then, measured, alerts/2 alerts over each item's NodeExporterDown, each sent 5 times, all
  of which must join the open incident of their item;
- storm-end (not in the default `--load`): the end of the outage. First, not measured,
  storm-e2e's alerts/10 NodeDown alerts, until both servers' receivers have a notification for
  every item and each server's CPU is idle for a second (Alertmanager: under a quarter of a
  core, its 5,000 groups' flushes every group_interval); then, measured like storm-e2e, the
  same alerts sent once more, resolved (startsAt the first wave's, endsAt a second before
  they are sent, as Prometheus sends an alert that stopped firing): from the first POST until
  the receiver has a resolved notification for every item (Alertmanager: a notification
  whose status is "resolved"; watchd: the same, with the event "resolved"; the first wave's
  firing notifications are not counted).

watchd answers a request that finds its pipeline busy once the alerts are in its ingest journal
and takes them in behind (watchd/ingest/journal.py): after the POSTs the bench polls its
/metrics until watchd_ingest_journal_alerts is 0 and prints when that was ("all taken in").

Alertmanager has a null receiver except in storm-e2e and storm-end (both waves), where it has
the webhook receiver: group_by [item], group_wait 0s, group_interval 1s (the interval after
which a group's next notification, here the resolved one, may go out), send_resolved as the
webhook's default (true). watchd always has its webhook receiver, which gets a notification
per new incident in every load (and per resolved one in storm-end). Rounds alternate the two
servers (who goes first alternates too), each on a fresh store; medians are compared. After
each watchd run its store is read: every label set (of both waves in storm-join) must be
stored, belong to an incident, and the incidents must be the expected number (all of them
resolved in storm-end), or the run is reported as INVALID (exit status 1).
`--inhibit` gives both servers the inhibit rule of Alertmanager's documentation (severity
"critical" mutes "warning" of the same item; the loads' alerts are all critical).
`--profile FILE` records watchd with py-spy (on PATH or beside this Python) when it is
installed, else with cProfile (`python -m cProfile -o FILE -m watchd.cli run ...`), one file per
load and round. py-spy samples only the thread holding the GIL (`--gil`): SQLite's own work on
its thread runs without the GIL and is not in the profile, and that thread's waits for the GIL
(shown as work otherwise, at whatever line it waits) are not either.

    .venv/bin/python bench/storm.py [--load baseline,storm,storm-e2e,rss,storm-join,storm-end]
        [--rounds 3]
        [--alerts 50000] [--rss-alerts 100000] [--store sqlite|postgresql] [--inhibit]
        [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from aiohttp import web
from ingest import Result, alertmanager_argv, free_port, load, stop, wait_listening

ROOT = Path(__file__).parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# --inhibit: the rule of Alertmanager's documentation, by item (the storm's alerts are critical).
INHIBIT_SOURCE, INHIBIT_TARGET = 'severity="critical"', 'severity="warning"'
Labels = Callable[[int], dict[str, str]]


def instance_labels(n: int) -> dict[str, str]:
    """Label set n of the loads without item labels: 50 alertnames, grouped by alertname."""
    return {
        "alertname": f"BenchAlert{n % 50}",
        "instance": f"host{n // 50}:9100",
        "job": "node",
        "severity": "warning",
    }


def item_pair_labels(n: int) -> dict[str, str]:
    """Label set n of the storm: two alerts on each item, item n // 2."""
    return {
        "alertname": ("NodeDown", "NodeExporterDown")[n % 2],
        "item": f"node{n // 2}",
        "instance": f"node{n // 2}:9100",
        "job": "node",
        "severity": "critical",
    }


def item_labels(n: int) -> dict[str, str]:
    """Label set n of the end-to-end storm: one alert (NodeDown) on item n."""
    return item_pair_labels(2 * n)


def item_second_labels(n: int) -> dict[str, str]:
    """Label set n of storm-join's second wave: the other alert (NodeExporterDown) on item n."""
    return item_pair_labels(2 * n + 1)


@dataclass(frozen=True)
class Load:
    """A load: how many alerts over how many label sets, and what the daemon must make of it."""

    name: str
    alerts: int
    label_sets: int
    labels: Labels
    incidents: int
    notify: bool = False  # wait until the receiver has every item (storm-e2e)
    settle: float = 0.0  # seconds to watch the RSS after the load (rss)
    warm: Load | None = None  # posted first and let settle, not measured (storm-join)
    resolves: bool = False  # sent resolved: the warm-up's alerts end (storm-end)

    @property
    def stored(self) -> int:
        """The label sets the store must hold after the run: the warm-up's and the load's
        (the same ones when the load resolves the warm-up's alerts)."""
        if self.resolves and self.warm:
            return self.warm.stored
        return self.label_sets + (self.warm.stored if self.warm else 0)


def loads(args: argparse.Namespace) -> dict[str, Load]:
    """The six loads, scaled by --alerts and --rss-alerts."""
    n = args.alerts
    first_wave = Load("first wave", n // 10, n // 10, item_labels, n // 10)
    # storm-end's: Alertmanager notifies only the end of a group it has notified firing.
    notified_wave = Load("first wave", n // 10, n // 10, item_labels, n // 10, notify=True)
    return {
        "baseline": Load("baseline", n, 2_000, instance_labels, 50),
        "storm": Load("storm", n, n // 5, item_pair_labels, n // 10),
        "storm-e2e": Load("storm-e2e", n // 10, n // 10, item_labels, n // 10, notify=True),
        "rss": Load(
            "rss", args.rss_alerts, args.rss_alerts, instance_labels, 50, settle=args.settle
        ),
        "storm-join": Load(
            "storm-join", n // 2, n // 10, item_second_labels, n // 10, warm=first_wave
        ),
        "storm-end": Load(
            "storm-end",
            n // 10,
            n // 10,
            item_labels,
            n // 10,
            notify=True,
            warm=notified_wave,
            resolves=True,
        ),
    }


def bodies(load_: Load, batch: int, since: float) -> list[tuple[bytes, int]]:
    """Request bodies as Prometheus sends them, made afresh for each run: firing from a minute
    before `since` (the run's start, so that a load and its warm-up share their startsAt).

    endsAt is an hour ahead, not Prometheus's few minutes: the bench sends each label set
    only `alerts / label_sets` times, not every minute, and a slow run must not find its last
    alerts already ended (they would arrive resolved and open no incident). A load that
    `resolves` is sent as Prometheus sends an alert that stopped firing: endsAt a second ago."""
    now = time.time()
    starts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(since - 60))
    ends = time.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 1 if load_.resolves else now + 3600)
    )
    out = []
    for first in range(0, load_.alerts, batch):
        payload = []
        for i in range(first, min(first + batch, load_.alerts)):
            labels = load_.labels(i % load_.label_sets)
            payload.append(
                {
                    "annotations": {"summary": f"{labels['instance']} is down"},
                    "endsAt": ends,
                    "startsAt": starts,
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
                    "labels": labels,
                }
            )
        out.append((json.dumps(payload).encode(), len(payload)))
    return out


class Receiver:
    """The webhook endpoint both servers notify: when each item first arrived, per server."""

    def __init__(self) -> None:
        self.items: dict[str, set[str]] = {}
        self.last: dict[str, float] = {}
        self.expect: dict[str, int] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.resolved: dict[str, bool] = {}

    def reset(self, path: str, expect: int, *, resolved: bool = False) -> None:
        """Start counting afresh for one run: done once `expect` distinct items arrived (in
        resolved notifications only, with `resolved`)."""
        self.items[path] = set()
        self.expect[path] = expect
        self.done[path] = asyncio.Event()
        self.resolved[path] = resolved

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        doc = await request.json()
        if self.resolved.get(path) and not resolved(doc):
            return web.Response(text="ok")
        seen = self.items.setdefault(path, set())
        before = len(seen)
        seen.update(str(a["labels"].get("item", "")) for a in doc.get("alerts", []))
        if len(seen) > before:
            self.last[path] = time.perf_counter()
        if path in self.done and len(seen) >= self.expect[path]:
            self.done[path].set()
        return web.Response(text="ok")

    async def start(self) -> tuple[web.AppRunner, int]:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/{path}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, port


def resolved(doc: dict[str, Any]) -> bool:
    """Whether a webhook notification tells of the end: Alertmanager's status "resolved" (all
    of the group's alerts ended); watchd's says its incident's state, and its event is the one
    that resolved it (a later event of a resolved incident, "closed", has that status too)."""
    event = doc.get("event") or {}
    return doc.get("status") == "resolved" and event.get("kind", "resolved") == "resolved"


@dataclass
class Run:
    """One server's run of one load: the POSTs' result and what followed them."""

    result: Result
    delivered: float = 0.0  # first POST -> the receiver had every item (storm-e2e)
    taken_in: float = 0.0  # first POST -> watchd's ingest journal empty (0: not journaled)
    total_cpu: float = 0.0  # server CPU seconds until then
    db_cpu: float = 0.0  # the PostgreSQL backends' CPU seconds (--store postgresql)
    settled_mb: float = 0.0  # RSS after the settle time (rss)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self, load_: Load) -> str:
        text = self.result.line()
        if load_.notify:
            what = "items' resolved notifications" if load_.resolves else "items notified"
            text += f"\n{'':<31}all {load_.incidents:,} {what} {self.delivered:.2f} s"
            text += f" after the first POST (all POSTs answered after {self.result.seconds:.2f} s;"
            text += f" CPU {self.total_cpu:.1f} s)"
        if self.taken_in:
            text += f"\n{'':<31}all taken in by the pipeline {self.taken_in:.2f} s after the first"
            text += f" POST (journal empty; CPU until then {self.total_cpu:.1f} s)"
        if self.db_cpu:
            text += f"\n{'':<31}PostgreSQL backends: CPU {self.db_cpu:.1f} s (not pinned)"
        if load_.settle:
            text += f"\n{'':<31}RSS {self.settled_mb:.0f} MB after {load_.settle:.0f} s idle"
        for note in self.notes:
            text += f"\n{'':<31}{note}"
        for problem in self.problems:
            text += f"\n{'':<31}INVALID: {problem}"
        return text


class Server:
    """How to start one kind of server on a fresh store, and what to check after its run."""

    name = ""
    runs = 0

    async def start(
        self, tmp: Path, core: int, load_: Load
    ) -> tuple[asyncio.subprocess.Process, str]:
        raise NotImplementedError

    def notifies(self, load_: Load) -> bool:
        """Whether the server sends the bench's receiver a notification per incident of the load."""
        return load_.notify

    async def taken_in(self, url: str) -> bool:
        """Wait until the server has taken in every alert it answered; whether it had to."""
        return False

    async def check(self, load_: Load) -> tuple[list[str], list[str]]:
        """What is wrong with the stopped server's store after the load, and what to note."""
        return [], []

    def idle_cpu(self, load_: Load) -> float:
        """The share of a core under which the server is idle once it is done with `load_`."""
        return 0.02

    def database_cpu(self) -> float:
        """CPU seconds its database server spent for it, when that is a separate process."""
        return 0.0

    async def cleanup(self) -> None:
        return None


async def wait_ready(
    url: str, proc: asyncio.subprocess.Process, port: int, within: float = 30.0
) -> None:
    """Listening is not enough: the daemon opens its store and loads rules before /readyz."""
    await wait_listening(port, proc, within)
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within 30 s")


class Watchd(Server):
    """`watchd run -c CONFIG` with the shipped rule packs and one webhook receiver."""

    name = "watchd"

    def __init__(self, args: argparse.Namespace, hook: str) -> None:
        self.args = args
        self.hook = hook
        self.database = ""
        self.db_file = Path()
        self.log = Path()
        self.profiler: asyncio.subprocess.Process | None = None

    def config(self, tmp: Path, port: int) -> Path:
        store = ""
        if self.database:
            store = (
                f'[store]\nurl = "postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}"\n'
            )
        text = f"""
[daemon]
state_dir = "state"
log_level = "info"
log_format = "json"

{store}
[api]
listen = "127.0.0.1:{port}"

[rules]
files = ["{ROOT / "rules"}/*.yaml"]
evaluation_interval = "15s"

[[receivers]]
name = "hook"
kind = "webhook"
url = "{self.hook}"

[route]
receivers = ["hook"]
group_wait = "0s"
group_interval = "0s"
"""
        if self.args.inhibit:
            text += f"""
[[inhibit_rules]]
source_matchers = ['{INHIBIT_SOURCE}']
target_matchers = ['{INHIBIT_TARGET}']
equal = ["item"]
"""
        path = tmp / "watchd.toml"
        path.write_text(text)
        return path

    async def start(
        self, tmp: Path, core: int, load_: Load
    ) -> tuple[asyncio.subprocess.Process, str]:
        if self.args.store == "postgresql":
            self.database = f"watchd_bench_{os.getpid()}_{self.runs}"
            await pg_admin(f'CREATE DATABASE "{self.database}"')
        self.db_file = tmp / "state" / "watchd.db"
        self.log = tmp / "watchd.log"
        port = free_port()
        config = self.config(tmp, port)
        python = [sys.executable]
        spy = py_spy()
        profile = profile_path(self.args.profile, load_, self.runs)
        if profile and not spy:
            python += ["-m", "cProfile", "-o", str(profile)]
        argv = ["taskset", "-c", str(core), *python, "-m", "watchd.cli", "run", "-c", str(config)]
        log = self.log.open("w")
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=tmp, stdout=log, stderr=log, env=os.environ | {"PYTHONPATH": str(ROOT)}
        )
        log.close()
        await wait_ready(f"http://127.0.0.1:{port}/readyz", proc, port)
        if profile and spy:
            self.profiler = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(proc.pid), "--rate", "200", "--nonblocking", "--gil",
                "--format", "speedscope", "-o", str(profile),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        return proc, f"http://127.0.0.1:{port}/api/v2/alerts"

    def notifies(self, load_: Load) -> bool:
        """The daemon's webhook receiver is on the default route in every load."""
        return True

    async def taken_in(self, url: str) -> bool:
        """Poll /metrics until no accepted alert waits in the ingest journal (watchd answers
        a storm's requests once their alerts are journaled and takes them in behind)."""
        metrics = url.replace("/api/v2/alerts", "/metrics")
        waited = False
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(metrics) as resp:
                    text = await resp.text()
                backlog = next(
                    float(line.split()[1])
                    for line in text.splitlines()
                    if line.startswith("watchd_ingest_journal_alerts ")
                )
                if backlog == 0:
                    return waited
                waited = True
                await asyncio.sleep(0.02)

    async def check(self, load_: Load) -> tuple[list[str], list[str]]:
        """Read the stopped daemon's store: every label set stored, in one of the incidents.

        Returns what is wrong (the run is invalid) and the daemon's own alerts, if it raised
        any (a self-alert is the daemon's behaviour under the load, not the load's).
        """
        if self.profiler is not None:
            await stop_profiler(self.profiler)
            self.profiler = None
        label = "labels::json ->> '{}'" if self.database else "json_extract(labels, '$.{}')"
        job, name = label.format("job"), label.format("alertname")
        ours = f"FROM alerts JOIN incident_alerts USING (fingerprint) WHERE {job} = 'node'"
        queries = (
            f"SELECT count(*) FROM alerts WHERE {job} = 'node'",
            f"SELECT count(DISTINCT fingerprint) {ours}",
            f"SELECT count(*) {ours}",
            f"SELECT count(DISTINCT incident_id) {ours}",
        )
        want = (load_.stored, load_.stored, load_.stored, load_.incidents)
        names = ("alerts stored", "in an incident", "incident memberships", "incidents")
        if load_.resolves:
            queries += (
                "SELECT count(*) FROM incidents WHERE state = 'resolved' "
                f"AND id IN (SELECT incident_id {ours})",
            )
            want += (load_.incidents,)
            names += ("incidents resolved",)
        others = f"SELECT {name} FROM alerts WHERE coalesce({job}, '') <> 'node'"
        if self.database:
            url = f"postgresql://postgres@127.0.0.1:5432/{self.database}"
            conn = await asyncpg.connect(url)
            try:
                counts = [int(await conn.fetchval(q)) for q in queries]
                extra = [str(row[0]) for row in await conn.fetch(others)]
            finally:
                await conn.close()
        else:
            with sqlite3.connect(self.db_file) as db:
                counts = [int(db.execute(q).fetchone()[0]) for q in queries]
                extra = [str(row[0]) for row in db.execute(others)]
        problems = [
            f"{got:,} {what}, expected {expected:,}"
            for got, expected, what in zip(counts, want, names, strict=True)
            if got != expected
        ]
        notes = [f"the daemon's own alerts: {', '.join(sorted(extra))}"] if extra else []
        return problems, [log_summary(self.log), *notes]

    def database_cpu(self) -> float:
        """The CPU seconds of the PostgreSQL backends serving this run's database so far."""
        total = 0.0
        for proc in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or ())
            if self.database and proc.info["name"] == "postgres" and self.database in title:
                with contextlib.suppress(psutil.Error):
                    total += sum(proc.cpu_times()[:2])
        return total

    async def cleanup(self) -> None:
        if self.database:
            await pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = ""


class Alertmanager(Server):
    """prometheus-alertmanager with a null receiver, or the webhook receiver in storm-e2e."""

    name = "alertmanager"

    def __init__(self, binary: str, hook: str, *, inhibit: bool = False) -> None:
        self.binary = binary
        self.hook = hook
        self.inhibit = inhibit

    async def start(
        self, tmp: Path, core: int, load_: Load
    ) -> tuple[asyncio.subprocess.Process, str]:
        if load_.notify:
            config = (
                "route:\n  receiver: hook\n  group_by: [item]\n  group_wait: 0s\n"
                "  group_interval: 1s\n  repeat_interval: 4h\n"
                f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {self.hook}\n"
            )
        else:
            config = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'
        if self.inhibit:
            config += (
                f"inhibit_rules:\n  - source_matchers: ['{INHIBIT_SOURCE}']\n"
                f"    target_matchers: ['{INHIBIT_TARGET}']\n    equal: [item]\n"
            )
        (tmp / "am.yml").write_text(config)
        port = free_port()
        argv = alertmanager_argv(self.binary, tmp, port, core)
        log = (tmp / "alertmanager.log").open("w")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        log.close()
        await wait_ready(f"http://127.0.0.1:{port}/-/ready", proc, port)
        return proc, f"http://127.0.0.1:{port}/api/v2/alerts"

    def idle_cpu(self, load_: Load) -> float:
        """With the webhook receiver each of its groups (one per item) is flushed every
        group_interval for as long as it exists: 5,000 of them kept it at 0.09-0.16 of a core."""
        return 0.25 if load_.notify else super().idle_cpu(load_)


def log_summary(path: Path) -> str:
    """How many lines the daemon logged: its three most frequent events, warnings and errors."""
    lines = 0
    info: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    with path.open() as log:
        for line in log:
            lines += 1
            try:
                doc = json.loads(line)
            except ValueError:
                bad[line.strip()[:60]] += 1  # a traceback or a line not from structlog
                continue
            level, event = doc.get("level"), str(doc.get("event"))
            (info if level in ("debug", "info") else bad)[
                event if level in ("debug", "info") else f"{level} {event}"
            ] += 1
    shown = [*info.most_common(3), *bad.most_common(6)]
    return f"log: {lines:,} lines; " + ", ".join(f"{event} x{n:,}" for event, n in shown)


async def pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def py_spy() -> str:
    """py-spy's path when it is installed (`pip install py-spy`), else ""."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy") or ""


def profile_path(profile: str, load_: Load, run: int) -> Path | None:
    if not profile:
        return None
    base = Path(profile).resolve()
    base.parent.mkdir(parents=True, exist_ok=True)
    return base.with_name(f"{base.stem}-{load_.name}-{run}{base.suffix}")


async def stop_profiler(proc: asyncio.subprocess.Process) -> None:
    """py-spy writes its file when interrupted (or when the daemon it records exits)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 60)


async def run_one(
    server: Server, load_: Load, receiver: Receiver,
    args: argparse.Namespace, core: int,
) -> Run:  # fmt: skip
    """Start the server on a fresh store, post the load, wait for what follows, stop, check."""
    server.runs += 1
    since = time.time()
    work = [] if load_.resolves else bodies(load_, args.batch, since)
    with run_dir(args.keep, f"{server.name}-{load_.name}-{server.runs}") as tmp:
        receiver.reset(server.name, load_.incidents if load_.notify else 0)
        proc, url = await server.start(Path(tmp), core, load_)
        try:
            ps = psutil.Process(proc.pid)
            warm_problems, warm_notes = await warm_up(
                server, load_, receiver, args, proc, url, since
            )
            if load_.resolves:  # endsAt just before they are sent; count their ends alone
                work = bodies(load_, args.batch, since)
                receiver.reset(server.name, load_.incidents, resolved=True)
            # PostgreSQL's CPU of the measured phase alone, not the warm-up's (the other loads
            # count the backends' start too, as they always have).
            db_before = server.database_cpu() if load_.warm else 0.0
            cpu_before = sum(ps.cpu_times()[:2])
            began = time.perf_counter()
            result = await load(server.name, url, proc, work, args.concurrency)
            run = Run(result, problems=warm_problems, notes=warm_notes)
            if await asyncio.wait_for(server.taken_in(url), args.timeout):
                run.taken_in = time.perf_counter() - began
            if load_.notify:
                await asyncio.wait_for(receiver.done[server.name].wait(), args.timeout)
                run.delivered = receiver.last[server.name] - began
            if load_.settle:
                run.settled_mb = await watch_rss(ps, load_.settle, run)
            run.total_cpu = sum(ps.cpu_times()[:2]) - cpu_before
            run.db_cpu = server.database_cpu() - db_before
        finally:
            stopped = await stop(proc, args.stop_grace)
        try:
            problems, notes = await server.check(load_)
            run.problems += problems
            run.notes = [stopped, *run.notes, *notes]
        finally:
            if not args.keep:
                await server.cleanup()
    if result.failed:
        run.problems.append(f"{result.failed} requests were refused")
    return run


async def warm_up(
    server: Server, load_: Load, receiver: Receiver, args: argparse.Namespace,
    proc: asyncio.subprocess.Process, url: str, since: float,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """Post the load's warm-up, if it has one, and wait until the server is done with it.

    Done: the receiver has a notification for every incident (when the server sends them)
    and then the server's CPU has been idle (`Server.idle_cpu`) for a second, so that the
    measured phase pays for none of the warm-up's work. Returns what went wrong and a note of how long it took."""
    warm = load_.warm
    if warm is None:
        return [], []
    began = time.perf_counter()
    receiver.reset(server.name, warm.incidents)
    result = await load(server.name, url, proc, bodies(warm, args.batch, since), args.concurrency)
    if result.failed:  # fewer incidents: the receiver would wait in vain
        return [f"{result.failed} requests of the {warm.name} were refused"], []
    if server.notifies(warm):
        await asyncio.wait_for(receiver.done[server.name].wait(), args.timeout)
    busy = server.idle_cpu(warm)
    await asyncio.wait_for(idle(psutil.Process(proc.pid), busy=busy), args.timeout)
    return [], [
        f"{warm.name} (not measured): {warm.alerts:,} alerts answered after "
        f"{result.seconds:.1f} s, settled after {time.perf_counter() - began:.1f} s"
    ]


async def idle(ps: psutil.Process, seconds: float = 1.0, busy: float = 0.02) -> None:
    """Return once the process used under `busy` of a core over `seconds`."""
    while True:
        before = sum(ps.cpu_times()[:2])
        await asyncio.sleep(seconds)
        if sum(ps.cpu_times()[:2]) - before < busy * seconds:
            return


def run_dir(keep: str, name: str) -> contextlib.AbstractContextManager[str]:
    """A fresh temp dir for one run, or DIR/NAME with --keep DIR (kept, as its database)."""
    if not keep:
        return tempfile.TemporaryDirectory(prefix="watchd-storm-")
    path = Path(keep).resolve() / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return contextlib.nullcontext(str(path))


async def watch_rss(ps: psutil.Process, seconds: float, run: Run) -> float:
    """The RSS (MB) once the server has been idle for `seconds`; the peak is kept up to date."""
    deadline = time.monotonic() + seconds
    rss = 0.0
    while time.monotonic() < deadline:
        rss = ps.memory_info().rss / 2**20
        run.result.rss_mb = max(run.result.rss_mb, rss)
        await asyncio.sleep(0.5)
    return ps.memory_info().rss / 2**20


def median_run(runs: list[Run], load_: Load) -> Run:
    """The median figures of several runs (each figure's own median)."""
    results = [r.result for r in runs]
    middle = sorted(results, key=lambda r: r.rate)[len(results) // 2]
    latencies = middle.latencies  # p50/p99 of the median-throughput run
    result = Result(
        middle.name,
        middle.accepted,
        middle.failed,
        statistics.median(r.seconds for r in results),
        latencies,
        statistics.median(r.cpu for r in results),
        statistics.median(r.rss_mb for r in results),
    )
    return Run(
        result,
        delivered=statistics.median(r.delivered for r in runs),
        total_cpu=statistics.median(r.total_cpu for r in runs),
        settled_mb=statistics.median(r.settled_mb for r in runs),
    )


def verdict(load_: Load, ours: Run, theirs: Run | None) -> str:
    """The issue 13 target of this load, met or not."""
    p99 = percentile_ms(ours.result.latencies, 99)
    if load_.name == "rss":
        met = ours.result.rss_mb < 300
        return f"target RSS < 300 MB at {load_.alerts:,} alerts: {'met' if met else 'NOT met'}"
    if theirs is None:
        return "no Alertmanager to compare with"
    ratio = ours.result.rate / theirs.result.rate
    if load_.notify:
        met = ours.delivered <= theirs.delivered
        return (
            f"end to end watchd {ours.delivered:.2f} s, Alertmanager {theirs.delivered:.2f} s "
            f"({ours.delivered / theirs.delivered:.1f}x the time): target <= 1.0x "
            f"{'met' if met else 'NOT met'}"
        )
    if load_.name in ("storm", "storm-join"):
        met = ratio >= 1.0 and p99 < 250
        return f"ratio {ratio:.2f}x, p99 {p99:.0f} ms: target >= 1.0x, p99 < 250 ms {'met' if met else 'NOT met'}"
    met = ratio >= 1.5
    return f"ratio {ratio:.2f}x: target >= 1.5x {'met' if met else 'NOT met'}"


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="baseline,storm,storm-e2e,rss")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--rss-alerts", type=int, default=100_000)
    parser.add_argument("--settle", type=float, default=30.0, help="rss: idle seconds")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="storm-e2e, storm-end: give up after"
    )
    parser.add_argument(
        "--inhibit",
        action="store_true",
        help="both servers get Alertmanager's usual inhibit rule (critical mutes warning)",
    )
    parser.add_argument("--profile", default="", help="record watchd's runs (py-spy or cProfile)")
    parser.add_argument(
        "--stop-grace", type=float, default=60.0, help="seconds from SIGTERM to SIGKILL"
    )
    parser.add_argument(
        "--keep", default="", help="keep each run's dir (config, log, store) and database here"
    )
    args = parser.parse_args()
    known = loads(args)
    chosen = [known[name] for name in args.load.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_cores = cores[0], set(cores[1:]) or {cores[0]}
    os.sched_setaffinity(0, client_cores)
    receiver = Receiver()
    runner, port = await receiver.start()
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    servers: list[Server] = [Watchd(args, f"http://127.0.0.1:{port}/watchd")]
    if binary is None:
        print("prometheus-alertmanager is not installed: bash scripts/test.sh installs it")
    else:
        servers.append(
            Alertmanager(binary, f"http://127.0.0.1:{port}/alertmanager", inhibit=args.inhibit)
        )
    print(
        f"servers on core {server_core}, load generator and receiver on {client_cores}; "
        f"watchd store {args.store}; batches of {args.batch}, {args.concurrency} in flight; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    invalid = False
    try:
        for load_ in chosen:
            first = ""
            if load_.warm:
                first = (
                    f", after a {load_.warm.name} of {load_.warm.alerts:,} alerts over "
                    f"{load_.warm.label_sets:,} label sets (not measured)"
                )
            print(
                f"\n== {load_.name}: {load_.alerts:,} alerts over {load_.label_sets:,} label sets"
                f"{first}, {load_.incidents:,} incidents expected"
            )
            runs: dict[str, list[Run]] = {s.name: [] for s in servers}
            for round_ in range(1, args.rounds + 1):
                # Alternate who goes first too: the machine's speed drifts within a minute.
                order = servers if round_ % 2 else servers[::-1]
                for server in order:
                    run = await run_one(server, load_, receiver, args, server_core)
                    runs[server.name].append(run)
                    invalid |= bool(run.problems)
                    print(f"round {round_}  {run.line(load_)}")
            medians = {name: median_run(r, load_) for name, r in runs.items()}
            for run in medians.values():
                print(f"median   {run.line(load_)}")
            print(f"{load_.name}: {verdict(load_, medians['watchd'], medians.get('alertmanager'))}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        await runner.cleanup()
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
