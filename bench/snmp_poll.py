"""SNMP polling on the real daemon: `watchd run` side by side with Debian's snmp_exporter.

Setup: `--agents` (4) net-snmp snmpd agents on loopback, each on its own free port, pinned to
core 0 with this process. `--devices` (100) devices are spread over them (device i polls
agent i % agents: one agent answers as several devices). Each device poll fetches the shipped
`if-mib` profile's 15 IF-MIB columns for every interface of this machine and sysUpTime:
rows x 15 + 1 varbinds (61 with 4 interfaces), counted from the agent with `snmpbulkwalk`
before the run. watchd fetches them as its collector does (since dca489c: a walk every
`rewalk_interval`, 300 s by default, and GETs of the known rows in between;
`--rewalk-interval 0` walks every poll, as the exporter does).

1. watchd: `watchd run -c CONFIG` (`python -m watchd.cli`) as users start it, pinned to core 1:
   a config in a temp dir with one item per device, each with one check of kind "snmp"
   (profiles ["if-mib"], v2c), `interval` = `--interval` (2 s) with a jitter of a whole
   interval (polls spread evenly), the shipped rule packs (`--rules none`: without them),
   JSON logs at info, a fresh SQLite store. After one interval of warm-up (the first poll of
   every device: sessions, counter baselines), its CPU (user + system, /proc via psutil) is
   read over `--duration` (60 s). Then the store is read: the runs that started in that
   window, by status. Every device must have an OK run in the window, and the devices whose
   runs around the end were all OK must show every interface row of the 12 metric columns in
   one /metrics scrape after the window, else the run is INVALID (exit status 1). Varbinds =
   OK runs x varbinds per poll (what the agent answers to the profile's columns and
   sysUpTime). A daemon that starts fewer than 95% of the due polls, or has runs that are not
   OK (timeouts when its core is saturated), is reported NOT KEPT UP: its CPU per varbind then
   includes the polls that returned nothing.
2. snmp_exporter: Debian's `prometheus-snmp-exporter` (0.21; installed here with apt-get when
   it is missing, it is not a test dependency), pinned to core 1 after watchd, with a hand-written
   snmp.yml module doing the same 16 walks (the 15 columns and sysUpTime), max_repetitions 25
   as watchd's default. This process scrapes `/snmp?target=127.0.0.1:PORT&module=if_poll` for
   every device once per interval, phases spread over the interval, over keep-alive
   connections as Prometheus does, for the same warm-up and duration; the exporter's CPU is
   read the same way. Each scrape's `snmp_scrape_pdus_returned` is its varbind count; scrapes
   with fewer than expected are reported NOT KEPT UP, and an agent never scraped completely
   makes the run INVALID.

Only the pollers' CPU is compared (snmpd is the device, not the poller; this process is the
scraper). CPU per poll and per varbind for both and the ratio watchd / exporter are printed
(issue 14's target: <= 0.7 per varbind), with the load average before and after.

`--scale`: watchd alone, 5,000 devices (`--scale-devices`) x 61 varbinds every 60 s on core 1,
for `--scale-duration` (180 s, three rounds) with jitter over the whole interval. Prints the
p99 schedule lag from the daemon's `watchd_check_schedule_lag_seconds` histogram (one /metrics
scrape at the end, so the whole run, start included; the p99 is interpolated within its
bucket; no scrape mid-run: one of 5,000 devices' series costs the daemon seconds and hundreds
of MB), the runs withheld as "poller overloaded", runs done vs due, the CPU share, the peak
RSS while polling (sampled every second, until the end of the run) and the RSS after that
one scrape. Target (issue 14): p99 lag < 1 s, RSS < 300 MB.

The bench drives the daemon only through its config, so it measures whichever SNMP collector
is on the branch it runs from.

    .venv/bin/python bench/snmp_poll.py [--devices 100] [--interval 2] [--duration 60]
        [--agents 4] [--rules shipped|none] [--side both|watchd|exporter]
        [--rewalk-interval SECONDS]
    .venv/bin/python bench/snmp_poll.py --scale [--scale-devices 5000] [--scale-duration 180]

`--profile FILE` records watchd with py-spy (collapsed stacks, on core 0) over the measured
window and prints the functions most samples were in; `--keep DIR` keeps its config and log;
`--tracemalloc DIR` runs it under bench/memtrace.py with a snapshot every 2 minutes (then
`memtrace.py diff DIR/snap-001.pickle DIR/snap-005.pickle` shows what grew; CPU figures of
such a run are not the daemon's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import aiohttp
import psutil
from ingest import free_port, stop, wait_listening
from storm import log_summary, py_spy, stop_profiler, wait_ready

ROOT = Path(__file__).parents[1]
SNMPD = "/usr/sbin/snmpd"
EXPORTER = "prometheus-snmp-exporter"
UPTIME = "1.3.6.1.2.1.1.3"
# The shipped if-mib profile's columns (collectors/snmp_profiles/if-mib.yaml), with the
# exporter's type for each: 3 labels, 12 metrics.
COLUMNS = {
    "1.3.6.1.2.1.31.1.1.1.1": ("ifName", "DisplayString"),
    "1.3.6.1.2.1.31.1.1.1.18": ("ifAlias", "DisplayString"),
    "1.3.6.1.2.1.2.2.1.2": ("ifDescr", "DisplayString"),
    "1.3.6.1.2.1.2.2.1.7": ("ifAdminStatus", "gauge"),
    "1.3.6.1.2.1.2.2.1.8": ("ifOperStatus", "gauge"),
    "1.3.6.1.2.1.2.2.1.5": ("ifSpeed", "gauge"),
    "1.3.6.1.2.1.31.1.1.1.15": ("ifHighSpeed", "gauge"),
    "1.3.6.1.2.1.2.2.1.10": ("ifInOctets", "counter"),
    "1.3.6.1.2.1.2.2.1.16": ("ifOutOctets", "counter"),
    "1.3.6.1.2.1.31.1.1.1.6": ("ifHCInOctets", "counter"),
    "1.3.6.1.2.1.31.1.1.1.10": ("ifHCOutOctets", "counter"),
    "1.3.6.1.2.1.2.2.1.14": ("ifInErrors", "counter"),
    "1.3.6.1.2.1.2.2.1.20": ("ifOutErrors", "counter"),
    "1.3.6.1.2.1.2.2.1.13": ("ifInDiscards", "counter"),
    "1.3.6.1.2.1.2.2.1.19": ("ifOutDiscards", "counter"),
}
# What watchd exports for the 12 metric columns (watchd_probe_ + the profile's metric names).
WATCHD_COLUMN_METRICS = frozenset(
    "watchd_probe_" + name
    for name in (
        "if_admin_status", "if_oper_status", "if_speed_bps", "if_high_speed_mbps",
        "if_in_octets_total", "if_out_octets_total", "if_hc_in_octets_total",
        "if_hc_out_octets_total", "if_in_errors_total", "if_out_errors_total",
        "if_in_discards_total", "if_out_discards_total",
    )
)  # fmt: skip


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- agents ---------------------------------------------------------------------------------


def start_agent(workdir: Path, community: str, core: int) -> tuple[subprocess.Popen[bytes], int]:
    """A net-snmp snmpd on a free loopback port, read-only `community`, pinned to `core`."""
    port = free_port_udp()
    workdir.mkdir(parents=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity {community} 127.0.0.1\n")
    process = subprocess.Popen(
        ["taskset", "-c", str(core), SNMPD, "-f", "-Lo", "-C", "-m", "", "-M", "/nonexistent",
         "-c", str(conf), "-p", str(workdir / "pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(workdir)},
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["snmpget", "-m", "", "-v2c", "-c", community, "-r0", "-t0.3",
             f"127.0.0.1:{port}", f"{UPTIME}.0"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if probe.returncode == 0:
            return process, port
    process.kill()
    raise RuntimeError("snmpd did not start")


def free_port_udp() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def interface_rows(port: int, community: str) -> int:
    """How many interfaces the agent lists (rows of ifTable)."""
    out = subprocess.run(
        ["snmpbulkwalk", "-m", "", "-v2c", "-c", community, "-On", "-Oq",
         f"127.0.0.1:{port}", "1.3.6.1.2.1.2.2.1.1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    return len(out.splitlines())


# -- measuring a poller ---------------------------------------------------------------------


@dataclass
class Side:
    """One poller's run: CPU over the window, polls and varbinds, what went wrong."""

    name: str
    cpu: float = 0.0
    kernel: float = 0.0  # of `cpu`, the system time: syscalls, the TCP/UDP stack
    seconds: float = 0.0
    polls: int = 0  # runs or scrapes that started in the window
    ok: int = 0  # of which returned every expected varbind
    varbinds: int = 0
    due: float = 0.0  # polls the schedule asked for in the window
    rss_peak_mb: float = 0.0
    rss_peak_at: float = 0.0  # seconds after the process started
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        per_poll = self.cpu / max(self.polls, 1) * 1000
        per_vb = self.cpu / max(self.varbinds, 1) * 1e6
        text = (
            f"{self.name:<14} CPU {self.cpu:6.2f} s{self.kernel_share()} in {self.seconds:.0f} s "
            f"({self.cpu / max(self.seconds, 1e-9) * 100:3.0f}% of a core); "
            f"{self.polls:,} polls ({self.due:,.0f} due), {self.ok:,} complete, "
            f"{self.varbinds:,} varbinds; {per_poll:.2f} ms per poll, {per_vb:.1f} µs per varbind; "
            f"peak RSS {self.rss_peak_mb:.0f} MB ({self.rss_peak_at:.0f} s after start)"
        )
        for note in self.notes:
            text += f"\n{'':<15}{note}"
        for problem in self.problems:
            text += f"\n{'':<15}INVALID: {problem}"
        return text

    def spent(self, before: CpuTimes, after: CpuTimes) -> None:
        """The CPU the process used between two readings."""
        self.cpu, self.kernel = after.total - before.total, after.kernel - before.kernel

    def kernel_share(self) -> str:
        """ " (N % kernel)": how much of the CPU was system time."""
        return f" ({self.kernel / self.cpu * 100:.0f} % kernel)" if self.cpu > 0 else ""

    @property
    def per_varbind(self) -> float:
        return self.cpu / max(self.varbinds, 1)

    @property
    def per_poll(self) -> float:
        return self.cpu / max(self.polls, 1)


class CpuTimes(NamedTuple):
    """A process's CPU seconds so far: user + system, and the system part."""

    total: float
    kernel: float


def cpu_seconds(ps: psutil.Process) -> CpuTimes:
    times = ps.cpu_times()
    return CpuTimes(float(times.user + times.system), float(times.system))


async def watch_rss(ps: psutil.Process, side: Side, stop_: asyncio.Event) -> None:
    while not stop_.is_set():
        with contextlib.suppress(psutil.Error):
            rss = ps.memory_info().rss / 2**20
            if rss > side.rss_peak_mb:
                side.rss_peak_mb, side.rss_peak_at = rss, time.time() - ps.create_time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_.wait(), 1.0)


# -- watchd ---------------------------------------------------------------------------------


async def start_profiler(pid: int, path: str, core: int) -> asyncio.subprocess.Process | None:
    """py-spy recording the daemon (collapsed stacks, `--format raw`), pinned off its core."""
    spy = py_spy()
    if not path:
        return None
    if not spy:
        print("--profile needs py-spy (pip install py-spy): not recorded", flush=True)
        return None
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)  # noqa: ASYNC240
    return await asyncio.create_subprocess_exec(
        "taskset", "-c", str(core), spy, "record", "--pid", str(pid), "--rate", "100",
        "--nonblocking", "--format", "raw", "-o", path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def profile_summary(path: str, top: int = 12) -> str:
    """The functions the recorded daemon spent most samples in, themselves and below them."""
    own: Counter[str] = Counter()
    below: Counter[str] = Counter()
    total = 0
    with contextlib.suppress(OSError), open(path) as raw:
        for line in raw:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [re.sub(r" \((.*/)?(site-packages/)?", " (", f) for f in stack.split(";")]
            own[frames[-1]] += n
            for frame in set(frames):
                below[frame] += n
    if not total:
        return f"profile {path}: no samples"
    lines = [f"profile {path}: {total:,} samples; most in themselves:"]
    lines += [f"  {n / total * 100:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def daemon_config(
    tmp: Path, api_port: int, args: argparse.Namespace, timeout: float, items: list[str]
) -> Path:
    """The daemon's config of a polling bench (this one and http_checks.py): JSON logs at info,
    the shipped rule packs or none (`args.rules`), every check due each `args.interval` with a
    whole interval of jitter and `timeout`, then `items` (the [[items]] tables, as lines)."""
    rules = f'files = ["{ROOT / "rules"}/*.yaml"]' if args.rules == "shipped" else "files = []"
    lines = [
        "[daemon]",
        'state_dir = "state"',
        'log_level = "info"',
        'log_format = "json"',
        "",
        "[api]",
        f'listen = "127.0.0.1:{api_port}"',
        "",
        "[rules]",
        rules,
        "",
        "[check_defaults]",
        f"interval = {args.interval:g}",
        f"jitter = {args.interval:g}",
        f"timeout = {timeout:g}",
        "",
        *items,
    ]
    path = tmp / "watchd.toml"
    path.write_text("\n".join(lines))
    return path


def device_items(devices: list[int], community: str, args: argparse.Namespace) -> list[str]:
    """One item per device (its agent's port), each with the if-mib SNMP check."""
    lines: list[str] = []
    for i, port in enumerate(devices):
        lines += [
            "[[items]]",
            f'name = "dev{i}"',
            'address = "127.0.0.1"',
            "  [[items.checks]]",
            '  name = "snmp"',
            '  kind = "snmp"',
            f"  port = {port}",
            f'  community = "{community}"',
            '  profiles = ["if-mib"]',
            *(
                [f"  rewalk_interval = {args.rewalk_interval:g}"]
                if args.rewalk_interval >= 0
                else []
            ),
            "",
        ]
    return lines


async def start_watchd(
    tmp: Path, core: int, items: list[str], args: argparse.Namespace, check_timeout: float
) -> tuple[asyncio.subprocess.Process, int]:
    """`watchd run -c CONFIG` pinned to `core` on `daemon_config` (checks timing out after
    `check_timeout`), once it is ready; its API port."""
    port = free_port()
    config = daemon_config(tmp, port, args, check_timeout, items)
    # --tracemalloc: under bench/memtrace.py, a snapshot every 2 minutes (a debug aid: tracing
    # slows the daemon two to three times, so its CPU figures are not the daemon's).
    traced = (
        [str(ROOT / "bench" / "memtrace.py"), "run", "--out", str(args.tracemalloc),
         "--every", "120", "--"]
        if args.tracemalloc else ["-m"]
    )  # fmt: skip
    argv = ["taskset", "-c", str(core), sys.executable, *traced, "watchd.cli", "run", "-c",
            str(config)]  # fmt: skip
    log = (tmp / "watchd.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=tmp, stdout=log, stderr=log, env=os.environ | {"PYTHONPATH": str(ROOT)}
    )
    log.close()
    # Traced, the daemon starts two to three times slower.
    await wait_ready(f"http://127.0.0.1:{port}/readyz", proc, port, 300 if args.tracemalloc else 30)
    return proc, port


@dataclass
class Window:
    """What a measured window of a running daemon gave: the scrapes before and after it, its
    wall-clock bounds, when the closing scrape began, and how the daemon stopped."""

    first: str
    text: str
    since: float
    until: float
    scraped: float
    stopped: str


async def measure_window(
    proc: asyncio.subprocess.Process, port: int, side: Side, args: argparse.Namespace
) -> Window:
    """Warm up one interval, then read the daemon's CPU over `args.duration` (into `side`,
    with its peak RSS and, with --profile, a py-spy record), scrape /metrics, stop it."""
    ps = psutil.Process(proc.pid)
    done = asyncio.Event()
    rss = asyncio.create_task(watch_rss(ps, side, done))
    try:
        await asyncio.sleep(args.interval + args.warmup)
        first = await scrape(port)
        spy = await start_profiler(proc.pid, args.profile, args.others)
        cpu0, since = cpu_seconds(ps), time.time()
        await asyncio.sleep(args.duration)
        cpu1, until = cpu_seconds(ps), time.time()
        if spy is not None:
            await stop_profiler(spy)
        done.set()
        await rss  # the peak RSS of the polling, not of the scrape that follows
        scraped = time.time()
        text = await scrape(port)
    finally:
        done.set()
        await rss
        stopped = await stop(proc, 60)
    side.spent(cpu0, cpu1)
    side.seconds = until - since
    return Window(first, text, since, until, scraped, stopped)


def store_outcome(
    side: Side, tmp: Path, since: float, until: float, names: list[str], what: str
) -> dict[str, Counter[int]]:
    """The runs the store holds from `since` to `until` by item: the polls made and OK in
    `side`, a note of what was not OK, and a problem for items in `names` without an OK run
    (`what` names them: "devices without an OK poll")."""
    db = tmp / "state" / "watchd.db"
    runs = store_runs(db, since, until)
    side.polls = sum(sum(c.values()) for c in runs.values())
    side.ok = sum(c[0] for c in runs.values())
    failed = store_messages(db, since, until)
    if failed:
        side.notes.append("not OK: " + "; ".join(f"{n}x {m}" for m, n in failed.most_common(3)))
    quiet = [name for name in names if not runs.get(name, Counter())[0]]
    if quiet:
        side.problems.append(f"{len(quiet)} {what}, e.g. {quiet[:3]}")
    return runs


def keep_log(tmp: Path, args: argparse.Namespace) -> None:
    """With --keep DIR, the run's config and log are copied there."""
    if args.keep:
        keep = Path(args.keep)
        keep.mkdir(parents=True, exist_ok=True)
        for name in ("watchd.toml", "watchd.log"):
            shutil.copy(tmp / name, keep / name)


def store_runs(db: Path, since: float, until: float) -> dict[str, Counter[int]]:
    """Runs by item and status that started in [since, until), from the stopped daemon's store."""
    runs: dict[str, Counter[int]] = defaultdict(Counter)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT s.item, p.status, count(*) FROM samples p JOIN rollup_series s "
            "ON s.id = p.series_id WHERE p.time >= ? AND p.time < ? GROUP BY s.item, p.status",
            (since, until),
        )
        for item, status, n in rows:
            runs[str(item)][int(status)] = int(n)
    return runs


def store_messages(db: Path, since: float, until: float) -> Counter[str]:
    """The most frequent messages of runs that were not OK (the store keeps only those)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT message FROM samples WHERE time >= ? AND time < ? AND status <> 0",
            (since, until),
        )
        return Counter(re.sub(r"127\.0\.0\.1:\d+", "AGENT", str(m))[:90] for (m,) in rows)


_SERIES = re.compile(r"^(watchd_probe_if_\w+)\{([^}]*)\} ")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def interfaces_seen(metrics_text: str) -> dict[str, set[tuple[str, str]]]:
    """(metric, ifIndex) pairs of the 12 column metrics exported per item."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for line in metrics_text.splitlines():
        match = _SERIES.match(line)
        if match is None or match.group(1) not in WATCHD_COLUMN_METRICS:
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        seen[labels.get("item", "")].add((match.group(1), labels.get("ifIndex", "")))
    return seen


LAG = "watchd_check_schedule_lag_seconds"


def histogram(text: str, name: str) -> dict[float, float]:
    """A label-less histogram's cumulative bucket counts in a scrape, by upper bound."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile(
    after: dict[float, float], q: float, before: dict[float, float] | None = None
) -> float:
    """The q-quantile of the observations between two scrapes (linear within the bucket)."""
    buckets = sorted((le, n - (before or {}).get(le, 0.0)) for le, n in after.items())
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: at least that
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def lag_note(after: str, before: str = "") -> str:
    """The schedule lag of the runs between two scrapes of the daemon's /metrics."""
    a, b = histogram(after, LAG), histogram(before, LAG)
    runs = a.get(math.inf, 0.0) - b.get(math.inf, 0.0)
    return (
        f"schedule lag over {runs:,.0f} runs: p50 {quantile(a, 0.5, b) * 1000:.0f} ms, "
        f"p99 {quantile(a, 0.99, b) * 1000:.0f} ms"
    )


def metric_value(text: str, name: str) -> float:
    """The sum of every series of `name` in a scrape (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(port: int, path: str = "/metrics") -> str:
    timeout = aiohttp.ClientTimeout(total=300)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return await resp.text()


async def bench_watchd(
    devices: list[int], community: str, rows: int, core: int, args: argparse.Namespace
) -> Side:
    side = Side("watchd")
    per_poll = rows * len(COLUMNS) + 1
    with tempfile.TemporaryDirectory(prefix="watchd-snmp-") as name:
        tmp = Path(name)
        items = device_items(devices, community, args)
        proc, port = await start_watchd(tmp, core, items, args, min(10.0, args.interval))
        window = await measure_window(proc, port, side, args)
        side.due = len(devices) * side.seconds / args.interval
        side.notes += [
            lag_note(window.text, window.first),
            window.stopped,
            log_summary(tmp / "watchd.log"),
        ]
        keep_log(tmp, args)
        names = [f"dev{i}" for i in range(len(devices))]
        store_outcome(side, tmp, window.since, window.until, names, "devices without an OK poll")
        side.varbinds = side.ok * per_poll
        text = window.text
        overloaded = metric_value(text, "watchd_check_runs_overloaded_total")
        if overloaded:
            side.notes.append(f"{overloaded:.0f} runs withheld as 'poller overloaded' in all")
        # The series in the scrape come from each device's last finished run: check the
        # devices whose every run around the scrape was OK (a failed run drops its series).
        db = tmp / "state" / "watchd.db"
        recent = store_runs(db, window.scraped - args.interval - 10.0, window.scraped + 1.0)
        steady = [item for item, c in recent.items() if c[0] and sum(c.values()) == c[0]]
        seen = interfaces_seen(text)
        want = rows * len(WATCHD_COLUMN_METRICS)
        short = [item for item in steady if len(seen.get(item, ())) != want]
        side.notes.append(
            f"/metrics after the window: {len(steady) - len(short)} of {len(steady)} devices "
            f"polled OK just before it show {rows} interfaces x 12 column metrics"
        )
        if short or not steady:
            side.problems.append(
                f"{len(short)} devices polled OK without {rows} interfaces x 12 column metrics "
                f"in /metrics (e.g. {short[:1]})"
            )
        if side.polls < 0.95 * side.due or side.ok < side.polls:
            side.notes.append(
                f"NOT KEPT UP: {side.polls:,} of {side.due:,.0f} due polls started, "
                f"{side.polls - side.ok:,} not OK"
            )
    return side


# -- snmp_exporter --------------------------------------------------------------------------


def exporter_module(community: str, timeout: float) -> str:
    """snmp.yml (0.21's format: modules at the top level) with the same 16 walks."""
    walks = [*COLUMNS, UPTIME]
    lines = ["if_poll:", "  walk:"] + [f"  - {oid}" for oid in walks] + ["  metrics:"]
    lines += [f"  - name: sysUpTime\n    oid: {UPTIME}\n    type: gauge"]
    for oid, (name, kind) in COLUMNS.items():
        lines += [
            f"  - name: {name}",
            f"    oid: {oid}",
            f"    type: {kind}",
            "    indexes:",
            "    - labelname: ifIndex",
            "      type: gauge",
        ]
    lines += [
        "  version: 2",
        "  max_repetitions: 25",
        "  retries: 1",
        f"  timeout: {timeout:g}s",
        "  auth:",
        f"    community: {community}",
    ]
    return "\n".join(lines) + "\n"


def exporter_binary() -> str:
    """The exporter's path, installing Debian's package when it is missing (root only)."""
    found = shutil.which(EXPORTER)
    if found is None:
        print(f"{EXPORTER} is missing: apt-get install -y {EXPORTER}", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", EXPORTER], check=False)
        found = shutil.which(EXPORTER)
    if found is None:
        raise SystemExit(f"{EXPORTER} could not be installed")
    return found


async def bench_exporter(
    devices: list[int], community: str, rows: int, core: int, args: argparse.Namespace
) -> Side:
    side = Side("snmp_exporter")
    expect = rows * len(COLUMNS) + 1
    binary = exporter_binary()
    with tempfile.TemporaryDirectory(prefix="snmp-exporter-") as name:
        tmp = Path(name)
        (tmp / "snmp.yml").write_text(exporter_module(community, min(10.0, args.interval)))
        port = free_port()
        argv = ["taskset", "-c", str(core), binary, f"--config.file={tmp / 'snmp.yml'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
        log = (tmp / "exporter.log").open("w")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log)
        log.close()
        ps = psutil.Process(proc.pid)
        window = [math.inf, math.inf]
        results: list[tuple[float, int]] = []  # (start time, pdus returned or -1)
        by_agent: list[tuple[int, int]] = []  # (agent port, pdus returned)
        errors: Counter[str] = Counter()
        try:
            await wait_listening(port, proc)
            connector = aiohttp.TCPConnector(limit=200)
            timeout = aiohttp.ClientTimeout(total=args.interval + 10)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

                async def device(agent: int) -> None:
                    url = f"http://127.0.0.1:{port}/snmp"
                    params = {"target": f"127.0.0.1:{agent}", "module": "if_poll"}
                    due = time.monotonic() + random.uniform(0, args.interval)
                    while True:
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        started = time.time()
                        pdus = -1
                        try:
                            async with http.get(url, params=params) as resp:
                                body = await resp.text()
                            if resp.status == 200:
                                pdus = int(metric_value(body, "snmp_scrape_pdus_returned"))
                            else:
                                errors[f"HTTP {resp.status}: {body[:80]}"] += 1
                        except (aiohttp.ClientError, TimeoutError) as exc:
                            errors[type(exc).__name__] += 1
                        results.append((started, pdus))
                        by_agent.append((agent, pdus))
                        due = max(due + args.interval, time.monotonic())

                tasks = [asyncio.create_task(device(p)) for p in devices]
                done = asyncio.Event()
                rss = asyncio.create_task(watch_rss(ps, side, done))
                await asyncio.sleep(args.interval + args.warmup)
                cpu0 = cpu_seconds(ps)
                window[0] = time.time()
                await asyncio.sleep(args.duration)
                cpu1 = cpu_seconds(ps)
                window[1] = time.time()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                done.set()
                await rss
        finally:
            stopped = await stop(proc, 10)
        side.spent(cpu0, cpu1)
        side.seconds = window[1] - window[0]
        side.due = len(devices) * side.seconds / args.interval
        inside = [pdus for started, pdus in results if window[0] <= started < window[1]]
        side.polls = len(inside)
        side.ok = sum(1 for pdus in inside if pdus == expect)
        side.varbinds = sum(max(pdus, 0) for pdus in inside)
        side.notes.append(stopped)
        wrong = Counter(pdus for pdus in inside if pdus != expect)
        if wrong:
            side.notes.append(
                f"NOT KEPT UP: {sum(wrong.values())} scrapes without {expect} varbinds: "
                + ", ".join(f"{n}x {'failed' if p < 0 else p}" for p, n in wrong.most_common(3))
                + "".join(f"; {n}x {e}" for e, n in errors.most_common(2))
            )
        complete = {agent for agent, pdus in by_agent if pdus == expect}
        if len(complete) < len(set(devices)) or not inside:
            side.problems.append(
                f"scrapes of {len(set(devices)) - len(complete)} agents never complete"
            )
    return side


# -- scale ----------------------------------------------------------------------------------


async def bench_scale(
    devices: list[int], community: str, rows: int, core: int, args: argparse.Namespace
) -> Side:
    args.interval = 60.0
    side = Side("watchd --scale")
    per_poll = rows * len(COLUMNS) + 1
    with tempfile.TemporaryDirectory(prefix="watchd-snmp-scale-") as name:
        tmp = Path(name)
        began = time.time()
        items = device_items(devices, community, args)
        proc, port = await start_watchd(tmp, core, items, args, min(10.0, args.interval))
        ready = time.time()
        ps = psutil.Process(proc.pid)
        done = asyncio.Event()
        rss = asyncio.create_task(watch_rss(ps, side, done))
        try:
            spy = await start_profiler(proc.pid, args.profile, args.others)
            cpu0 = cpu_seconds(ps)
            await asyncio.sleep(args.scale_duration)
            cpu1, until = cpu_seconds(ps), time.time()
            if spy is not None:
                await stop_profiler(spy)
            done.set()
            await rss  # the peak RSS of the polling, not of the scrape that follows
            rss_end = ps.memory_info().rss / 2**20
            text = await scrape(port)
            rss_scraped = ps.memory_info().rss / 2**20
        finally:
            done.set()
            await rss
            stopped = await stop(proc, 60)
        side.spent(cpu0, cpu1)
        side.seconds = until - ready
        side.due = len(devices) * side.seconds / args.interval
        p99 = quantile(histogram(text, LAG), 0.99)
        overloaded = metric_value(text, "watchd_check_runs_overloaded_total")
        side.notes += [
            f"started and ready in {ready - began:.1f} s; RSS at the end {rss_end:.0f} MB, "
            f"{rss_scraped:.0f} MB after one /metrics scrape",
            f"{lag_note(text)} (from the start); "
            f"{overloaded:.0f} runs withheld as 'poller overloaded'",
            stopped,
            log_summary(tmp / "watchd.log"),
        ]
        keep_log(tmp, args)
        names = [f"dev{i}" for i in range(len(devices))]
        store_outcome(side, tmp, ready, until, names, "devices without an OK poll")
        side.varbinds = side.ok * per_poll
        met = p99 < 1.0 and side.rss_peak_mb < 300
        side.notes.append(
            f"target p99 lag < 1 s and RSS < 300 MB: {'MET' if met else 'NOT MET'} "
            f"(p99 {p99:.2f} s, peak RSS {side.rss_peak_mb:.0f} MB)"
        )
    return side


# -- main -----------------------------------------------------------------------------------


def needs_net_snmp() -> None:
    if not Path(SNMPD).exists() or shutil.which("snmpbulkwalk") is None:
        sys.exit("needs apt packages snmpd and snmp")


@contextlib.contextmanager
def agents(count: int, community: str, core: int) -> Iterator[list[int]]:
    with tempfile.TemporaryDirectory(prefix="snmpd-") as tmp:
        started = [start_agent(Path(tmp) / f"a{i}", community, core) for i in range(count)]
        try:
            yield [port for _, port in started]
        finally:
            for process, _ in started:
                process.terminate()
                process.wait(timeout=5)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds after the first round")
    parser.add_argument("--rules", choices=["shipped", "none"], default="shipped")
    parser.add_argument(
        "--rewalk-interval",
        type=float,
        default=-1.0,
        help="the checks' rewalk_interval (0: walk every poll, as the exporter); default: unset",
    )
    parser.add_argument("--side", choices=["both", "watchd", "exporter"], default="both")
    parser.add_argument("--scale", action="store_true", help="5,000 devices every 60 s, watchd")
    parser.add_argument("--scale-devices", type=int, default=5000)
    parser.add_argument("--scale-duration", type=float, default=180.0)
    parser.add_argument("--profile", default="", help="py-spy collapsed stacks of watchd here")
    parser.add_argument("--keep", default="", help="copy watchd's config and log here")
    parser.add_argument(
        "--tracemalloc", type=Path, help="run watchd under memtrace.py, snapshots every 2 min here"
    )
    args = parser.parse_args()
    if args.tracemalloc:  # the daemon runs in a directory of its own
        args.tracemalloc = args.tracemalloc.resolve()
    needs_net_snmp()
    cores = sorted(os.sched_getaffinity(0))
    poller, others = cores[-1], cores[0]
    os.sched_setaffinity(0, {others})
    args.others = others
    community = "b" + secrets.token_hex(6)
    count = args.scale_devices if args.scale else args.devices
    with agents(args.agents, community, others) as ports:
        rows = interface_rows(ports[0], community)
        devices = [ports[i % len(ports)] for i in range(count)]
        print(
            f"{args.agents} snmpd agents and this process on core {others}, the poller on core "
            f"{poller}; {count:,} devices, {rows} interfaces: {rows * len(COLUMNS) + 1} varbinds "
            f"per poll; rules {args.rules}; load average {loadavg()}",
            flush=True,
        )
        if args.scale:
            side = await bench_scale(devices, community, rows, poller, args)
            print(side.line())
            if args.profile:
                print(profile_summary(args.profile))
            print(f"load average {loadavg()}")
            return 1 if side.problems else 0
        print(
            f"every {args.interval:g} s ({count / args.interval:,.0f} polls/s due), "
            f"{args.duration:g} s measured after {args.interval + args.warmup:g} s of warm-up, "
            "one poller after the other",
            flush=True,
        )
        sides: list[Side] = []
        if args.side in ("both", "watchd"):
            sides.append(await bench_watchd(devices, community, rows, poller, args))
            print(sides[-1].line(), flush=True)
            if args.profile:
                print(profile_summary(args.profile), flush=True)
        if args.side in ("both", "exporter"):
            sides.append(await bench_exporter(devices, community, rows, poller, args))
            print(sides[-1].line(), flush=True)
        if len(sides) == 2:
            ours, theirs = sides
            ratio = ours.per_varbind / theirs.per_varbind
            print(
                f"ratio watchd / snmp_exporter: CPU per poll {ours.per_poll / theirs.per_poll:.2f}, "
                f"CPU per varbind {ratio:.2f}: target <= 0.7 {'MET' if ratio <= 0.7 else 'NOT MET'}"
            )
        print(f"load average {loadavg()}")
        return 1 if any(side.problems for side in sides) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
