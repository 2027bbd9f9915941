"""Instructions per SNMP poll of watchd's own Python work: collector, result path, shipped rules.

The daemon benches (snmp_poll.py) measure CPU seconds, which on a shared machine swing by
10-40 % between runs a minute apart. This counts instructions, which the load does not change:
`--devices` (20) if-mib devices of 4 interfaces are polled in rounds by their real
SnmpCollector (built from a config as `watchd run` builds it) over a stand-in session that
answers at once with net-snmp's values (counters growing, sysUpTime going on), each result
handed to the real ResultProcessor (check state, availability sample, metrics, probe series)
and the shipped rule packs (rules/*.yaml) through RuleService. Between table walks
(`rewalk_interval`, 300 s) a poll GETs the known rows, as in the daemon: `--rewalk-interval 0`
walks every poll. No socket, no BER, no event-loop IO: what is counted is the Python path
that gufo-snmp's Rust core and the loop do not do.

    .venv/bin/python bench/snmp_path_cost.py                 # callgrind, 30 and 50 rounds
    .venv/bin/python bench/snmp_path_cost.py --rounds 50     # one run, no valgrind
    .venv/bin/python bench/snmp_path_cost.py --cprofile      # where the Python time goes
    .venv/bin/python bench/snmp_path_cost.py --memory        # what the devices' state holds

Instructions per poll are the difference between a run of 50 rounds and one of 30 (start-up,
imports and the first polls cancel out), over 20 x `--devices` polls: steady state.

`--memory` polls `--devices` (default 500 there) once a minute for 13 minutes of the stand-in
clock, so that the shipped rules' 10-minute windows are full as in a daemon at steady state,
and prints what tracemalloc finds held per device (the config, collectors, check states,
/metrics' series and rules, without the daemon's store, scheduler and web server) and the
lines that hold most. Like the instruction count it does not depend on the machine's load:
the figure to compare before and after a change to what a device keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors import snmp  # noqa: E402
from collectors.snmp import SnmpCollector  # noqa: E402
from watchd.check_config import ResolvedCheck  # noqa: E402
from watchd.loading import load_setup  # noqa: E402
from watchd.metrics import Metrics  # noqa: E402
from watchd.model import Alert, CheckContext, CheckResult  # noqa: E402
from watchd.results import ResultProcessor  # noqa: E402
from watchd.rules.engine import RuleEngine  # noqa: E402
from watchd.rules.service import RuleService  # noqa: E402
from watchd.scheduler import RunInfo  # noqa: E402

INTERVAL = 2.0  # seconds between two polls of a device (60 with --memory)
MEMORY_ROUNDS = 13  # minutes: the shipped rules' longest window (10 min) full, and some
IF_TABLE = "1.3.6.1.2.1.2.2.1"
IFX_TABLE = "1.3.6.1.2.1.31.1.1.1"
UPTIME = "1.3.6.1.2.1.1.3.0"


class Clock:
    """Time moved by the rounds, not read from the system."""

    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 0.0

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("nothing sleeps here")


class Agent:
    """net-snmp's answers for a host with 4 interfaces at round `at`, as gufo-snmp gives them
    (made once a round: the devices of a round share them, so the stand-in costs little)."""

    def __init__(self, interval: float) -> None:
        self.at = 0
        self._interval = interval
        self._values: tuple[int, dict[str, int | bytes]] = (-1, {})

    def values(self) -> dict[str, int | bytes]:
        r = self.at
        if self._values[0] == r:
            return self._values[1]
        values: dict[str, int | bytes] = {UPTIME: 100_000 + int(self._interval * 100) * r}
        for i, name in enumerate([b"lo", b"eth0", b"eth1", b"wlan0"], start=1):
            octets = 1_000_000 * i + 12_345 * i * r
            for column, value in [
                (f"{IFX_TABLE}.1", name),
                (f"{IFX_TABLE}.18", b""),
                (f"{IF_TABLE}.2", name),
                (f"{IF_TABLE}.7", 1),
                (f"{IF_TABLE}.8", 1),
                (f"{IF_TABLE}.5", 1_000_000_000),
                (f"{IFX_TABLE}.15", 1000),
                (f"{IF_TABLE}.10", octets % 2**32),
                (f"{IF_TABLE}.16", (octets * 3) % 2**32),
                (f"{IFX_TABLE}.6", octets),
                (f"{IFX_TABLE}.10", octets * 3),
                (f"{IF_TABLE}.14", 0),
                (f"{IF_TABLE}.20", 0),
                (f"{IF_TABLE}.13", i),
                (f"{IF_TABLE}.19", 0),
            ]:
                values[f"{column}.{i}"] = value
        self._values = (r, values)
        return values


class Session:
    """A device's session answering from the Agent at once (collectors/snmp_rows.Reader)."""

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    async def get(self, oids: Sequence[str], *, each: bool = True) -> dict[str, int | bytes]:
        values = self._agent.values()
        return {oid: values[oid] for oid in oids if oid in values}

    async def walk(
        self, columns: Sequence[str], *, max_repetitions: int, max_rows: int = 100_000
    ) -> dict[str, dict[str, int | bytes]]:
        values = self._agent.values()
        return {
            column: {
                oid[len(column) + 1 :]: value
                for oid, value in values.items()
                if oid.startswith(column + ".")
            }
            for column in columns
        }

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class Store:
    """Keeps the availability samples as the real store's writer queues them; no database."""

    def __init__(self) -> None:
        self.samples: list[object] = []

    def record_sample(self, sample: object) -> None:
        self.samples.append(sample)
        if len(self.samples) > 10_000:
            self.samples.clear()

    async def load_states(self, namespace: str) -> dict[str, object]:
        return {}


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def submit(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)


def config(tmp: Path, devices: int, rewalk_interval: float) -> Path:
    lines = [
        "[daemon]",
        f'state_dir = "{tmp}"',
        "[rules]",
        f'files = ["{ROOT / "rules"}/*.yaml"]',
    ]
    for i in range(devices):
        lines += [
            "[[items]]",
            f'name = "dev{i}"',
            'address = "127.0.0.1"',
            "  [[items.checks]]",
            '  name = "snmp"',
            '  kind = "snmp"',
            '  profiles = ["if-mib"]',
            f"  rewalk_interval = {rewalk_interval:g}",
        ]
    path = tmp / "watchd.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def poll(
    rounds: int,
    devices: int,
    rewalk_interval: float,
    profile: cProfile.Profile | None = None,
    interval: float = INTERVAL,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        setup = load_setup(config(Path(tmp), devices, rewalk_interval))
    clock = Clock()
    agent = Agent(interval)
    store, sink = Store(), Sink()
    processor = ResultProcessor(clock=clock, store=store, metrics=Metrics(), sink=sink)  # type: ignore[arg-type]
    rules = RuleService(
        RuleEngine(setup.rules, clock=clock),
        sink=sink,
        store=store,  # type: ignore[arg-type]
        clock=clock,
        interval=15.0,
    )
    processor.add_observer(rules.observe)
    # Each collector's session (collectors/snmp._session) answers from the Agent.
    sessions = mock.patch.object(snmp, "_session", lambda config, endpoint: Session(agent))
    checks = [
        (check, SnmpCollector(check.settings, monotonic=clock.monotonic))  # type: ignore[arg-type]
        for check, _ in setup.collectors
    ]
    contexts = [CheckContext(c.item, c.name, c.address, c.labels, c.timeout) for c, _ in checks]
    with sessions:
        await _rounds(range(rounds), checks, contexts, agent, clock, processor, interval)
        if profile is not None:  # the steady state: 20 rounds more, profiled
            profile.enable()
            await _rounds(
                range(rounds, rounds + 20), checks, contexts, agent, clock, processor, interval
            )
            profile.disable()
    assert not sink.alerts, sink.alerts
    if tracemalloc.is_tracing():  # --memory: what the devices' state holds, while it is alive
        _print_memory(tracemalloc.take_snapshot(), devices)


def _print_memory(snapshot: tracemalloc.Snapshot, devices: int) -> None:
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    held = snapshot.statistics("lineno")
    total = sum(stat.size for stat in held)
    print(
        f"held: {total / 1e6:.1f} MB for {devices} devices: {total / devices:,.0f} bytes a device"
    )
    for stat in held[:20]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).relative_to(ROOT) if frame.filename.startswith(str(ROOT)) else frame.filename}:{frame.lineno}"
        print(f"{stat.size / devices:8,.0f} B/device {stat.count / devices:6.1f} blocks  {where}")


async def _rounds(
    rounds: range,
    checks: list[tuple[ResolvedCheck, SnmpCollector]],
    contexts: list[CheckContext],
    agent: Agent,
    clock: Clock,
    processor: ResultProcessor,
    interval: float,
) -> None:
    result: CheckResult | None = None
    for r in rounds:
        agent.at = r
        for (check, collector), ctx in zip(checks, contexts, strict=True):
            result = await collector.collect(ctx)
            run = RunInfo(started=clock.wall, duration=0.003, lag=0.001, failed=False)
            await processor.handle(check, result, run)
        clock.wall += interval
        clock.mono += interval
    assert result is not None and result.status.is_ok, result


def instructions(rounds: int, args: argparse.Namespace) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--rounds",
        str(rounds),
        "--devices",
        str(args.devices),
        "--rewalk-interval",
        f"{args.rewalk_interval:g}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, help="20; 500 with --memory")
    parser.add_argument("--rounds", type=int, default=0, help="one run, no valgrind")
    parser.add_argument("--rewalk-interval", type=float, default=300.0)
    parser.add_argument("--cprofile", action="store_true", help="profile rounds 30 to 50")
    parser.add_argument("--memory", action="store_true", help="what a device's state holds")
    args = parser.parse_args()
    if args.memory:
        tracemalloc.start()
        asyncio.run(poll(MEMORY_ROUNDS, args.devices or 500, args.rewalk_interval, interval=60.0))
        return 0
    args.devices = args.devices or 20
    if args.cprofile:
        profile = cProfile.Profile()
        asyncio.run(poll(30, args.devices, args.rewalk_interval, profile))
        pstats.Stats(profile).sort_stats("tottime").print_stats(45)
        return 0
    if args.rounds:
        asyncio.run(poll(args.rounds, args.devices, args.rewalk_interval))
        return 0
    low, high = instructions(30, args), instructions(50, args)
    polls = 20 * args.devices
    print(f"30 rounds: {low:,} instructions; 50 rounds: {high:,}")
    print(f"per poll: {(high - low) / polls / 1e6:.3f} M instructions ({polls} polls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
