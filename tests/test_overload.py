"""Overload: a poller that cannot keep up says so (UNKNOWN "poller overloaded" and one
PollerOverloaded self-alert) instead of paging for targets that are fine, and sheds load fairly."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.notify.conftest import RecordingSink
from tests.test_scheduler import Recorder, ScriptedCollector, make_check, start
from watchd.check_config import ResolvedCheck
from watchd.checks import CheckState, StateType
from watchd.clock import Clock, FakeClock, SystemClock
from watchd.metrics import Metrics
from watchd.model import AlertStatus, CheckContext, CheckResult, Status
from watchd.overload import ALERTNAME, LoopLag, OverloadAlarm
from watchd.results import ResultProcessor
from watchd.scheduler import RunInfo, Scheduler
from watchd.store import Store


class FixedLag:
    """A LagSource that reports the same stall for every run (the loop is `stall` s behind)."""

    def __init__(self, stall: float) -> None:
        self.stall = stall

    def worst_since(self, t0: float) -> float:
        return self.stall


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock())
    yield opened
    await opened.close()


async def _one_run(status: Status, stall: float) -> tuple[CheckResult, RunInfo]:
    clock = FakeClock()
    sched = Scheduler(
        clock=clock,
        handler=Recorder(clock),
        max_concurrent=1,
        lag=FixedLag(stall),
        overload_lag=0.5,
    )
    return await sched.run_now(make_check(), ScriptedCollector([status]))


async def test_a_failure_measured_while_the_loop_stalled_is_unknown_poller_overloaded() -> None:
    """A CRITICAL from a run during which watchd's loop stalled 2 s is UNKNOWN "poller
    overloaded", with the collector's words kept in the message."""
    result, info = await _one_run(Status.CRITICAL, stall=2.0)
    assert result.status is Status.UNKNOWN
    assert result.message.startswith("poller overloaded: watchd was 2.0 s behind")
    assert "CRITICAL: scripted" in result.message
    assert info.overloaded and info.behind == 2.0


async def test_an_ok_result_stands_and_a_short_stall_changes_nothing() -> None:
    """An OK measured while behind is still OK; a stall under overload_lag keeps a CRITICAL."""
    ok, ok_info = await _one_run(Status.OK, stall=2.0)
    assert ok.status is Status.OK and not ok_info.overloaded and ok_info.behind == 2.0
    crit, crit_info = await _one_run(Status.CRITICAL, stall=0.4)
    assert crit.status is Status.CRITICAL and not crit_info.overloaded


async def test_overloaded_results_leave_the_check_state_alone(store: Store) -> None:
    """With max_attempts 1, overloaded results neither raise an alert nor count as attempts;
    a real CRITICAL afterwards goes HARD at once; an overload during the outage changes nothing."""
    clock, sink = FakeClock(), RecordingSink()
    processor = ResultProcessor(clock=clock, store=store, metrics=Metrics(), sink=sink)
    check = make_check(max_attempts=1, retry_interval="5s")
    overloaded = CheckResult(Status.UNKNOWN, "poller overloaded: watchd was 2.0 s behind")
    for t in range(5):
        info = RunInfo(clock.now() + t, 0.1, 0.0, False, behind=2.0, overloaded=True)
        assert await processor.handle(check, overloaded, info) is False
    assert sink.alerts == []
    assert processor.state(check.key) is None  # still pending: nothing was measured

    await processor.handle(check, CheckResult(Status.CRITICAL, "refused"), _info(clock, 10))
    assert [a.labels["severity"] for a in sink.alerts] == ["critical"]
    before = processor.state(check.key)
    assert before is not None and before.hard_status is Status.CRITICAL
    info = RunInfo(clock.now() + 11, 0.1, 0.0, False, behind=2.0, overloaded=True)
    await processor.handle(check, overloaded, info)
    assert processor.state(check.key) == before
    assert len(sink.alerts) == 1


def _info(clock: FakeClock, t: float) -> RunInfo:
    return RunInfo(clock.now() + t, 0.1, 0.0, False)


async def test_runs_that_were_behind_let_fewer_in_and_prompt_ones_more_again() -> None:
    """While runs see the loop stall, the scheduler halves how many it lets in at once (never
    below one); once runs are prompt again it opens up to max_concurrent."""
    clock = FakeClock()
    lag = FixedLag(1.0)
    sched = Scheduler(
        clock=clock, handler=Recorder(clock), max_concurrent=64, lag=lag, overload_lag=0.5
    )
    sched.set_checks(
        [(make_check(f"c{i}", interval="1s", jitter=0), ScriptedCollector()) for i in range(8)]
    )
    task = await start(sched)
    await clock.advance(10)
    assert sched.admitted == 1
    lag.stall = 0.0
    await clock.advance(20)
    task.cancel()
    assert sched.admitted == 64


class SlowCollector:
    """Takes `seconds` of (fake) time per run."""

    kind: ClassVar[str] = "slow"

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds

    async def collect(self, ctx: CheckContext) -> CheckResult:
        await self.clock.sleep(self.seconds)
        return CheckResult(Status.OK, "done")

    async def aclose(self) -> None:
        return None


async def test_when_behind_every_check_is_delayed_in_turn_and_none_starves() -> None:
    """Ten 1 s checks that each take 1 s with two slots: every check runs about as often as
    every other (a fifth of its schedule), none is always the one left waiting."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=2, rng=random.Random(3))
    sched.set_checks(
        [
            (make_check(f"c{i}", interval="1s", jitter="1s"), SlowCollector(clock, 1.0))
            for i in range(10)
        ]
    )
    task = await start(sched)
    await clock.advance(100)
    task.cancel()
    counts = [len(rec.runs[f"c{i}"]) for i in range(10)]
    assert sum(counts) >= 190  # both slots always busy
    assert max(counts) - min(counts) <= 1, counts
    gaps = [b - a for runs in rec.runs.values() for a, b in itertools.pairwise(runs)]
    assert max(gaps) <= 6.0  # each waits its turn: about 5 s, never much longer


async def test_alarm_fires_once_with_the_lag_and_resolves_when_caught_up() -> None:
    """Withheld results over 10 s fire one PollerOverloaded carrying the measured lags; 30 s
    without evidence resolve it; a single stall alone fires nothing."""
    clock, sink, lag = FakeClock(), RecordingSink(), FixedLag(0.0)
    alarm = OverloadAlarm(sink, clock=clock, lag=lag, threshold=0.5)
    task = asyncio.create_task(alarm.run())
    await asyncio.sleep(0)
    lag.stall = 3.0
    await clock.advance(1)
    lag.stall = 0.0
    await clock.advance(40)
    assert sink.alerts == []  # one stall: no alert, the episode cleared

    for _ in range(12):
        alarm.run_finished(interval=2.0, start_lag=4.0, withheld=True)
        lag.stall = 1.5
        await clock.advance(1)
    assert [a.status for a in sink.alerts] == [AlertStatus.FIRING]
    fired = sink.alerts[0]
    assert fired.labels == {"alertname": ALERTNAME, "item": "watchd", "severity": "critical"}
    assert fired.annotations["loop_lag_seconds"] == "1.500"
    assert fired.annotations["start_lag_seconds"] == "4.000"
    assert "up to 1.5 s behind" in str(fired.annotations["summary"])
    lag.stall = 0.0
    await clock.advance(31)
    task.cancel()
    assert [a.status for a in sink.alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert sink.alerts[1].starts_at == fired.starts_at


async def test_loop_lag_sees_a_blocked_event_loop() -> None:
    """A callback blocking the loop 0.3 s is a 0.2 s+ stall for runs spanning it, and for none
    that started after it; the lag gauge shows it."""
    clock = SystemClock()
    published: list[float] = []
    lag = LoopLag(clock, threshold=0.2, interval=0.02, gauge=published.append)
    probe = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.05)
        before = clock.monotonic()
        assert lag.worst_since(before) == 0.0  # an idle loop is prompt
        # The fault being measured: a callback hogging the loop.
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)
        await asyncio.sleep(0.3)
        assert lag.worst_since(before) >= 0.2
        assert lag.worst_since(clock.monotonic()) == 0.0
        await asyncio.sleep(0.25)  # the gauge gets the worst of every ten probes
        assert max(published) >= 0.2
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe


class BusyDevice:
    """A device that answers after 10 ms, as an SNMP poll over a LAN, and whose answer takes
    `cpu` seconds of watchd's CPU to decode. Like a real poller's request timeout, its own
    timeout is wall time: when watchd's loop is too busy to read the answer in time, the
    collector says CRITICAL "no response". A `down` device refuses at once."""

    kind: ClassVar[str] = "busy"

    def __init__(self, cpu: float, request_timeout: float, down: bool = False) -> None:
        self.cpu = cpu
        self.request_timeout = request_timeout
        self.down = down
        self.no_response = 0

    async def collect(self, ctx: CheckContext) -> CheckResult:
        if self.down:
            return CheckResult(Status.CRITICAL, "connection refused")
        sent = time.monotonic()
        await asyncio.sleep(0.01)
        if time.monotonic() - sent > self.request_timeout:
            self.no_response += 1
            return CheckResult(Status.CRITICAL, f"no response within {self.request_timeout}s")
        for _ in range(3):  # decoding in steps, as a parser that yields between PDUs
            end = time.process_time() + self.cpu / 3
            while time.process_time() < end:
                pass
            await asyncio.sleep(0)
        return CheckResult(Status.OK, "answered")

    async def aclose(self) -> None:
        return None


DOWN = {"dev150", "dev151"}


async def _overload(store: Store, *, guard: bool, seconds: float, cpu: float) -> dict[str, object]:
    """150 busy devices polled every second, each answer taking `cpu` seconds to decode (0.012:
    about twice what one core decodes), and 2 down ones, through the real scheduler, result
    processor and alarm, for `seconds`."""
    clock: Clock = SystemClock()
    sink = RecordingSink()
    processor = ResultProcessor(clock=clock, store=store, metrics=Metrics(), sink=sink)
    overload_lag = 0.25 if guard else float("inf")
    lag = LoopLag(clock, threshold=overload_lag)
    alarm = OverloadAlarm(
        sink,
        clock=clock,
        lag=lag,
        threshold=overload_lag,
        tick=0.2,
        fire_after=1.0,
        clear_after=2.0,
    )
    devices = [BusyDevice(cpu=cpu, request_timeout=1.0) for _ in range(150)]
    devices += [BusyDevice(cpu=0.0, request_timeout=1.0, down=True) for _ in range(2)]
    checks: list[tuple[ResolvedCheck, BusyDevice]] = [
        (make_check(f"dev{i}", interval="1s", jitter="1s", timeout="3s", max_attempts=1), d)
        for i, d in enumerate(devices)
    ]
    runs: Counter[str] = Counter()
    withheld: Counter[str] = Counter()

    async def handle(check: ResolvedCheck, result: CheckResult, info: RunInfo) -> bool:
        runs[check.name] += 1
        withheld[check.name] += info.overloaded
        return await processor.handle(check, result, info)

    sched = Scheduler(
        clock=clock,
        handler=handle,
        max_concurrent=500,
        lag=lag if guard else None,
        overload_lag=overload_lag,
        alarm=alarm if guard else None,
    )
    sched.set_checks(checks)
    tasks = [asyncio.create_task(c) for c in (sched.run(), lag.run(), alarm.run())]
    await asyncio.sleep(seconds)
    await sched.stop(grace=5.0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    states: dict[str, CheckState | None] = {
        check.name: processor.state(check.key) for check, _ in checks
    }
    pages = [a for a in sink.alerts if a.labels["alertname"] != ALERTNAME]
    return {
        "false_pages": {a.labels["check"] for a in pages} - DOWN,
        "down_hard": [
            s is not None and s.state_type is StateType.HARD and s.hard_status is Status.CRITICAL
            for name, s in states.items()
            if name in DOWN
        ],
        "self_alerts": Counter(a.status for a in sink.alerts if a.labels["alertname"] == ALERTNAME),
        "runs": sched.runs,
        "withheld": sum(withheld.values()),
        "no_response": sum(d.no_response for d in devices),
        "runs_per_device": (min(runs[c.name] for c, _ in checks), max(runs.values())),
    }


@pytest.mark.integration
async def test_a_real_overload_pages_nobody_but_raises_poller_overloaded(store: Store) -> None:
    """On this machine, 150 devices needing about two cores of decoding every second page
    every fine device that a late answer made CRITICAL without the guard; with it, no fine
    device pages, the down ones still do, every device is polled about as often as every other,
    and PollerOverloaded fires."""
    # How much load overloads depends on this machine's speed and what else runs on it: the
    # load doubles until, unguarded, it pages fine devices; the guarded run gets the same load.
    for cpu in (0.012, 0.024, 0.048):
        unguarded = await _overload(store, guard=False, seconds=4.0, cpu=cpu)
        if unguarded["false_pages"]:
            break
    assert unguarded["false_pages"], "even the heaviest load did not overload this machine"
    guarded = await _overload(store, guard=True, seconds=8.0, cpu=cpu)
    assert guarded["false_pages"] == set(), guarded
    assert guarded["down_hard"] == [True, True]
    fewest, most = guarded["runs_per_device"]  # type: ignore[misc]
    assert fewest >= 1 and most <= 3 * fewest, guarded
    assert guarded["self_alerts"][AlertStatus.FIRING] >= 1, guarded


async def test_a_recheck_whose_result_was_withheld_stays_asked_for() -> None:
    """A child re-checked after its parent recovered, while watchd was behind, gets its fresh
    result from the next run at its usual time (not at once, which would add to the load)."""
    clock = FakeClock()
    rec = Recorder(clock)
    lag = FixedLag(2.0)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=4, lag=lag, overload_lag=0.5)
    check = make_check(interval="60s", jitter=0)
    sched.set_checks([(check, ScriptedCollector([Status.CRITICAL] * 3))])
    task = await start(sched)
    await clock.advance(1)
    sched.recheck([check.key])
    await clock.advance(1)
    lag.stall = 0.0
    await clock.advance(60)
    task.cancel()
    assert rec.runs["c"] == [0.0, 1.0, 61.0]  # the recheck moved the schedule by 1 s
    _, withheld = rec.results[1]
    assert withheld.recheck and withheld.overloaded
    result, fresh = rec.results[2]
    assert fresh.recheck and not fresh.overloaded and result.status is Status.CRITICAL
