"""SNMP polling throughput: watchd's snmp collector against net-snmp's snmpbulkwalk (C).

Setup: AGENTS local snmpd processes on loopback; DEVICES collector instances (each its own
check, its own rate state) spread over them, so one agent is polled as several "devices".
Each device poll is an if-mib walk (ifTable + ifXTable columns of the profile, every
interface of this machine) plus the sysUpTime GET, all through the full collector path
(pysnmp request, decoding, profile evaluation, rates). The same if-mib columns are then
walked by `snmpbulkwalk` processes, and the poller CPU per 1,000 varbinds is compared
(agent CPU is excluded in both cases: snmpd is the device, not the poller).

    .venv/bin/python bench/snmp_poll.py [--devices 1000] [--agents 4] [--concurrency 50]

Target (issue 4): 1,000 devices x 50 varbinds per 60 s on one core: 50,000 varbinds in at
most 60 CPU-seconds, i.e. at most 1.2 CPU seconds per 1,000 varbinds.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors import snmp_profile
from collectors.snmp import SnmpCollector, SnmpConfig
from watchd.model import CheckContext

SNMPD = "/usr/sbin/snmpd"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_agent(workdir: Path, community: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    workdir.mkdir(parents=True)
    conf = workdir / "snmpd.conf"
    conf.write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity {community} 127.0.0.1\n")
    process = subprocess.Popen(
        [
            SNMPD,
            "-f",
            "-Lo",
            "-C",
            "-m",
            "",
            "-M",
            "/nonexistent",
            "-c",
            str(conf),
            "-p",
            str(workdir / "pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(workdir)},
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [
                "snmpget",
                "-m",
                "",
                "-v2c",
                "-c",
                community,
                "-r0",
                "-t0.3",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return process, port
    process.kill()
    raise RuntimeError("snmpd did not start")


def if_mib_columns() -> list[str]:
    return [c.oid for t in snmp_profile.shipped("if-mib").tables for c in t.columns]


async def bench_watchd(
    ports: list[int], community: str, devices: int, concurrency: int, rounds: int
) -> tuple[int, float, float]:
    """Poll every device `rounds` times; return (varbinds, wall seconds, CPU seconds)."""
    collectors = [
        SnmpCollector(
            SnmpConfig(
                port=ports[i % len(ports)],
                community=community,
                profiles=["if-mib"],
                request_timeout=5.0,
                retries=1,
            )
        )
        for i in range(devices)
    ]
    ctx = CheckContext(item="bench", check="snmp", address="127.0.0.1", timeout=60.0)
    limit = asyncio.Semaphore(concurrency)
    failures = 0

    per_poll = varbinds_per_poll(ports[0], community)

    async def poll(collector: SnmpCollector) -> int:
        nonlocal failures
        async with limit:
            result = await collector.collect(ctx)
        if not result.status.is_ok:
            failures += 1
            return 0
        return per_poll

    await asyncio.gather(*(poll(c) for c in collectors[: len(ports)]))  # warm the engine
    cpu0, wall0 = time.process_time(), time.perf_counter()
    varbinds = 0
    for _ in range(rounds):
        varbinds += sum(await asyncio.gather(*(poll(c) for c in collectors)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for collector in collectors:
        await collector.aclose()
    if failures:
        print(f"  warning: {failures} polls failed (agents overloaded?)")
    return varbinds, wall, cpu


_PER_POLL: dict[int, int] = {}


def varbinds_per_poll(port: int, community: str) -> int:
    """Varbinds one if-mib poll fetches: rows x columns, plus sysUpTime."""
    if port not in _PER_POLL:
        out = subprocess.run(
            [
                "snmpbulkwalk",
                "-m",
                "",
                "-v2c",
                "-c",
                community,
                "-On",
                "-Oq",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.2.2.1.1",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = len(out.splitlines())
        _PER_POLL[port] = rows * len(if_mib_columns()) + 1
    return _PER_POLL[port]


def bench_netsnmp(
    ports: list[int], community: str, walks: int, parallel: int
) -> tuple[int, float, float]:
    """Walk the same columns with snmpbulkwalk processes; (varbinds, wall, children's CPU)."""
    # Whole ifTable and ifXTable subtrees: two processes per device, start-up amortized
    # over every column (more varbinds than the profile's columns; compared per varbind).
    columns = ["1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    varbinds = 0
    running: list[subprocess.Popen[str]] = []
    jobs = [(ports[i % len(ports)], column) for i in range(walks) for column in columns]
    for port, column in jobs:
        running.append(
            subprocess.Popen(
                [
                    "snmpbulkwalk",
                    "-m",
                    "",
                    "-v2c",
                    "-c",
                    community,
                    "-Cr25",
                    "-On",
                    "-Oq",
                    f"127.0.0.1:{port}",
                    column,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        if len(running) >= parallel:
            varbinds += _reap(running.pop(0))
    while running:
        varbinds += _reap(running.pop(0))
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return varbinds, wall, cpu


def _reap(process: subprocess.Popen[str]) -> int:
    out, _ = process.communicate()
    return len(out.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--walks", type=int, default=50, help="snmpbulkwalk device walks")
    args = parser.parse_args()
    if not Path(SNMPD).exists() or shutil.which("snmpbulkwalk") is None:
        sys.exit("needs apt packages snmpd and snmp")
    community = "b" + secrets.token_hex(6)
    with tempfile.TemporaryDirectory() as tmp:
        agents = [start_agent(Path(tmp) / f"a{i}", community) for i in range(args.agents)]
        ports = [port for _, port in agents]
        try:
            per_poll = varbinds_per_poll(ports[0], community)
            print(
                f"{args.agents} snmpd agents, {args.devices} devices, "
                f"{per_poll} varbinds per if-mib poll, concurrency {args.concurrency}"
            )
            vb, wall, cpu = asyncio.run(
                bench_watchd(ports, community, args.devices, args.concurrency, args.rounds)
            )
            w_rate, w_cpu_k = vb / wall, cpu / vb * 1000
            print(
                f"watchd/pysnmp: {vb} varbinds in {wall:.2f} s wall, {cpu:.2f} s CPU: "
                f"{w_rate:,.0f} varbinds/s, {w_cpu_k:.3f} CPU s per 1,000 varbinds"
            )
            nvb, nwall, ncpu = bench_netsnmp(ports, community, args.walks, parallel=8)
            n_cpu_k = ncpu / nvb * 1000
            print(
                f"net-snmp snmpbulkwalk: {nvb} varbinds in {nwall:.2f} s wall, {ncpu:.2f} s CPU: "
                f"{nvb / nwall:,.0f} varbinds/s, {n_cpu_k:.3f} CPU s per 1,000 varbinds "
                f"(2 processes per device walk, start-up included)"
            )
            print(f"ratio CPU per varbind watchd / snmpbulkwalk: {w_cpu_k / n_cpu_k:.2f}")
            need = 1000 * 50 / 60
            capacity = 1000 / w_cpu_k
            print(
                f"target 1,000 devices x 50 varbinds / 60 s = {need:,.0f} varbinds/s on one core; "
                f"watchd's CPU allows {capacity:,.0f} varbinds/s per core: "
                f"{'MET' if capacity >= need else 'NOT MET'} ({capacity / need:.1f}x)"
            )
        finally:
            for process, _ in agents:
                process.terminate()
                process.wait(timeout=5)


if __name__ == "__main__":
    main()
