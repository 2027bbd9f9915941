"""The scheduler: intervals, retry intervals, jitter, timeouts, concurrency, reload and drain."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

from watchd.check_config import ResolvedCheck
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.model import CheckContext, CheckResult, Status
from watchd.scheduler import RunInfo, Scheduler


class ScriptedCollector:
    """A collector for scheduling tests: answers from a script and can be held."""

    kind: ClassVar[str] = "scripted"

    def __init__(
        self, statuses: list[Status] | None = None, *, hold: asyncio.Event | None = None
    ) -> None:
        self.statuses = list(statuses or [])
        self.hold = hold
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.closed = False

    async def collect(self, ctx: CheckContext) -> CheckResult:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.hold is not None:
                await self.hold.wait()
            status = self.statuses.pop(0) if self.statuses else Status.OK
            if status is None:
                raise RuntimeError("probe exploded")
            return CheckResult(status, "scripted")
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        self.closed = True


def make_check(name: str = "c", **options: object) -> ResolvedCheck:
    raw = {
        "items": [{"name": "host", "checks": [{"name": name, "kind": "tcp", "port": 1, **options}]}]
    }
    return next(parse_config(raw, Path("t.toml")).checks())


class Recorder:
    def __init__(self, clock: FakeClock, retrying: bool = False) -> None:
        self.clock = clock
        self.runs: dict[str, list[float]] = defaultdict(list)
        self.results: list[tuple[CheckResult, RunInfo]] = []
        self.retrying = retrying

    async def __call__(self, check: ResolvedCheck, result: CheckResult, info: RunInfo) -> bool:
        self.runs[check.name].append(self.clock.monotonic())
        self.results.append((result, info))
        return self.retrying and not result.status.is_ok


async def start(scheduler: Scheduler) -> asyncio.Task[None]:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0)
    return task


async def test_checks_run_at_their_interval_without_drift() -> None:
    """A 10 s check with no jitter runs at 0, 10, 20 and 30 s."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    sched.set_checks([(make_check(interval="10s", jitter=0), ScriptedCollector())])
    task = await start(sched)
    await clock.advance(35)
    task.cancel()
    assert rec.runs["c"] == [0.0, 10.0, 20.0, 30.0]


async def test_jitter_spreads_first_runs_within_the_jitter() -> None:
    """Checks with 5 s jitter start at different moments, all within 5 s."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=100, rng=random.Random(7))
    sched.set_checks(
        [(make_check(f"c{i}", interval="60s", jitter="5s"), ScriptedCollector()) for i in range(20)]
    )
    task = await start(sched)
    await clock.advance(6)
    task.cancel()
    firsts = [runs[0] for runs in rec.runs.values()]
    assert len(firsts) == 20
    assert all(0 <= t <= 5 for t in firsts)
    assert len(set(firsts)) > 10


async def test_a_retrying_check_runs_again_after_the_retry_interval() -> None:
    """A failing check in SOFT state is re-run at retry_interval, then back to interval when OK."""
    clock = FakeClock()
    rec = Recorder(clock, retrying=True)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    collector = ScriptedCollector([Status.CRITICAL, Status.CRITICAL, Status.OK])
    sched.set_checks([(make_check(interval="60s", retry_interval="5s", jitter=0), collector)])
    task = await start(sched)
    await clock.advance(70)
    task.cancel()
    assert rec.runs["c"] == [0.0, 5.0, 10.0, 70.0]


async def test_concurrency_limit_bounds_checks_running_at_once() -> None:
    """With max_concurrent 2, five held checks never run more than two at a time, and all run."""
    clock = FakeClock()
    rec = Recorder(clock)
    hold = asyncio.Event()
    collector = ScriptedCollector(hold=hold)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=2)
    sched.set_checks([(make_check(f"c{i}", interval="60s", jitter=0), collector) for i in range(5)])
    task = await start(sched)
    await clock.advance(1)
    assert collector.active == 2
    hold.set()
    await clock.advance(1)
    task.cancel()
    assert collector.calls == 5
    assert collector.max_active == 2
    assert max(info.lag for _, info in rec.results) >= 0.0


async def test_a_collector_that_raises_gives_unknown_and_the_schedule_goes_on() -> None:
    """An exception in a collector is an UNKNOWN result naming the error; the next run still happens."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    sched.set_checks([(make_check(interval="10s", jitter=0), ScriptedCollector([None, Status.OK]))])  # type: ignore[list-item]
    task = await start(sched)
    await clock.advance(15)
    task.cancel()
    (first, info), (second, _) = rec.results
    assert first.status is Status.UNKNOWN
    assert "probe exploded" in first.message
    assert info.failed
    assert second.status is Status.OK


async def test_a_hanging_check_times_out_as_critical() -> None:
    """A check that never answers is cut off at its timeout and reported CRITICAL."""
    clock = FakeClock()
    sched = Scheduler(clock=clock, handler=Recorder(clock), max_concurrent=1)
    result, info = await sched.run_now(
        make_check(timeout=0.05), ScriptedCollector(hold=asyncio.Event())
    )
    assert result.status is Status.CRITICAL
    assert "timed out after 50ms" in result.message
    assert info.failed


async def test_reload_keeps_unchanged_schedules_and_stops_removed_checks() -> None:
    """set_checks keeps an unchanged check's timing, starts a new one and retires a removed one."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    keep, drop = ScriptedCollector(), ScriptedCollector()
    sched.set_checks(
        [
            (make_check("keep", interval="10s", jitter=0), keep),
            (make_check("drop", interval="10s", jitter=0), drop),
        ]
    )
    task = await start(sched)
    await clock.advance(15)
    retired = sched.set_checks(
        [
            (make_check("keep", interval="10s", jitter=0), ScriptedCollector()),
            (make_check("new", interval="10s", jitter=0), ScriptedCollector()),
        ]
    )
    await clock.advance(10)
    task.cancel()
    assert rec.runs["keep"] == [0.0, 10.0, 20.0]
    assert rec.runs["drop"] == [0.0, 10.0]
    assert rec.runs["new"] == [15.0, 25.0]
    assert drop in retired
    assert keep not in retired


async def test_stop_waits_for_running_checks_then_cancels_the_rest() -> None:
    """Draining lets running checks finish within the grace period and cancels those that do not."""
    clock = FakeClock()
    rec = Recorder(clock)
    hold = asyncio.Event()
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    sched.set_checks(
        [(make_check(interval="10s", jitter=0, timeout="60s"), ScriptedCollector(hold=hold))]
    )
    task = await start(sched)
    await clock.advance(1)
    assert sched.running == 1
    cancelled = await sched.stop(grace=0.05)
    await task
    assert cancelled == 1
    assert sched.running == 0


async def test_a_recheck_runs_the_check_now_and_marks_the_run() -> None:
    """recheck() runs a 60 s check at once (its run marked as a recheck), then every 60 s from
    there; an unknown check is ignored."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    sched.set_checks([(make_check(interval="60s", jitter=0), ScriptedCollector())])
    task = await start(sched)
    await clock.advance(20)
    assert sched.recheck([("host", "c"), ("host", "gone")]) == 1
    await clock.advance(100)
    task.cancel()
    assert rec.runs["c"] == [0.0, 20.0, 80.0]
    assert [info.recheck for _, info in rec.results] == [False, True, False]


async def test_a_recheck_during_a_run_runs_the_check_again_after_it() -> None:
    """A run under way when the recheck comes started too early: the check runs again at once
    after it, and only that run is marked as the recheck."""
    clock = FakeClock()
    rec = Recorder(clock)
    hold = asyncio.Event()
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    sched.set_checks([(make_check(interval="60s", jitter=0), ScriptedCollector(hold=hold))])
    task = await start(sched)
    await clock.advance(1)
    sched.recheck([("host", "c")])
    await clock.advance(1)
    hold.set()
    await clock.advance(1)
    task.cancel()
    assert [info.recheck for _, info in rec.results] == [False, True]
    assert rec.runs["c"] == [2.0, 2.0]


async def test_a_check_taken_over_first_runs_when_it_is_due_where_it_ran_before() -> None:
    """A new check given a first due time runs first then, not within its jitter; unchanged
    checks keep their schedule whatever they are given."""
    clock = FakeClock()
    rec = Recorder(clock)
    sched = Scheduler(clock=clock, handler=rec, max_concurrent=10)
    check = make_check(interval="10s", jitter="5s")
    sched.set_checks([(check, ScriptedCollector())], first_due={check.key: 7.5})
    task = await start(sched)
    await clock.advance(12)
    sched.set_checks([(check, ScriptedCollector())], first_due={check.key: 30.0})
    await clock.advance(6)
    task.cancel()
    assert rec.runs["c"] == [7.5, 17.5]
