"""When each check runs: interval, jitter, retry interval, timeout and a global concurrency limit.

Common options live here, not in collectors (STYLE.md 3). One loop keeps a heap of due times
(a timer heap rather than one APScheduler job per check: 10,000 checks cost one heap entry
each, and bench/scheduler_http.py measures it). Each due check runs in its own task, so a slow
check never delays another beyond the concurrency limit; a check never overlaps itself.

Overload (DESIGN.md §4): a run during which the event loop stalled for `overload_lag` or more
(or whose timeout fired that late) measured watchd, not its target, so its non-OK result becomes
UNKNOWN "poller overloaded" and `RunInfo.overloaded` is set. Such runs, and stalls seen when
due checks are launched, also halve the number of runs let in at once (at most once per
`overload_lag`; each run that was not behind lets one more in again, up to `max_concurrent`):
fewer runs at a time keep the loop prompt, so the ones that do run measure their targets. Due
checks wait in the heap, most overdue first, and a run that started late is next due one
interval later or now, behind every older one: when watchd is behind, every check is delayed in
turn by the same amount, none is always the one skipped, and missed slots are not made up (a
check never runs twice to catch up). A recheck whose result was withheld stays asked for.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from watchd.check_config import ResolvedCheck
from watchd.clock import Clock, sleep_or_wakeup
from watchd.durations import format_duration
from watchd.heartbeats import PingSource
from watchd.model import CheckContext, CheckResult, Collector, Status
from watchd.overload import LagSource, OverloadAlarm, overloaded_result

CheckKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """How one run went, beside its result: when, how long, how late, and if it failed."""

    started: float  # wall clock
    duration: float  # seconds
    lag: float  # seconds between when it was due and when it started
    failed: bool  # the collector raised or timed out
    recheck: bool = False  # run out of turn because a fresh result was asked for (`recheck`)
    behind: float = 0.0  # the longest event-loop stall during the run, if overload_lag or more
    overloaded: bool = False  # the result is UNKNOWN "poller overloaded": watchd was behind


ResultHandler = Callable[[ResolvedCheck, CheckResult, RunInfo], Awaitable[bool]]
"""Called after every run; returns True while the check is retrying (SOFT), so the next run
comes after `retry_interval` instead of `interval`."""


@dataclass(slots=True)
class _Entry:
    check: ResolvedCheck
    collector: Collector
    due: float
    generation: int
    pings: PingSource | None = None
    running: bool = False
    removed: bool = False
    retrying: bool = False
    recheck: bool = False  # a fresh result is wanted: the next run starts now, and says so
    ctx: CheckContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = CheckContext(
            item=self.check.item,
            check=self.check.name,
            address=self.check.address,
            labels=self.check.labels,
            timeout=self.check.timeout,
            pings=self.pings,
        )


class Scheduler:
    """Runs checks on time and hands each result to `handler`; `pings` is where heartbeat
    checks read their stored pings (collectors see it in their CheckContext)."""

    def __init__(
        self,
        *,
        clock: Clock,
        handler: ResultHandler,
        max_concurrent: int,
        rng: random.Random | None = None,
        lag: LagSource | None = None,
        overload_lag: float = 0.5,
        alarm: OverloadAlarm | None = None,
        pings: PingSource | None = None,
    ) -> None:
        self._clock = clock
        self._pings = pings
        self._handler = handler
        self._max_concurrent = max_concurrent
        self._cap = float(max_concurrent)  # runs let in at once; lowered while overloaded
        self._last_cut = float("-inf")
        self._active = 0
        self._lag = lag
        self._overload_lag = overload_lag
        self._alarm = alarm
        self._rng = rng or random.Random()
        self._entries: dict[CheckKey, _Entry] = {}
        self._heap: list[tuple[float, int, CheckKey, int]] = []
        self._seq = itertools.count()
        self._generation = itertools.count()
        self._wakeup = asyncio.Event()
        # A due check waits for a free slot: a finishing run wakes the loop only then (waking
        # it after every run cost a loop turn per check).
        self._held = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.runs = 0
        self.max_lag = 0.0

    @property
    def check_count(self) -> int:
        return len(self._entries)

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def admitted(self) -> int:
        """How many runs may go at once now: `max_concurrent`, less while overloaded."""
        return int(self._cap)

    def set_checks(
        self,
        checks: Iterable[tuple[ResolvedCheck, Collector]],
        first_due: Mapping[CheckKey, float] | None = None,
    ) -> list[Collector]:
        """Install a new set of checks; unchanged ones keep their schedule. A new one runs
        first at its `first_due` time (monotonic) if given, else within its jitter.

        Returns the collectors that are no longer used, for the caller to close once idle.
        """
        now = self._clock.monotonic()
        new: dict[CheckKey, _Entry] = {}
        retired: list[Collector] = []
        for check, collector in checks:
            old = self._entries.get(check.key)
            if old is not None and old.check == check:
                new[check.key] = old
                retired.append(collector)
                continue
            if old is not None:
                old.removed = True
                retired.append(old.collector)
            first = (first_due or {}).get(check.key)
            if first is None:
                first = now + self._rng.uniform(0.0, min(check.jitter, check.interval))
            entry = _Entry(check, collector, first, next(self._generation), self._pings)
            new[check.key] = entry
            self._push(entry)
        for key, old in self._entries.items():
            if key not in new:
                old.removed = True
                retired.append(old.collector)
        self._entries = new
        self._wakeup.set()
        return retired

    def collectors(self) -> list[Collector]:
        return [entry.collector for entry in self._entries.values()]

    async def run(self) -> None:
        """Launch due checks until cancelled or `stop` is called."""
        while not self._stopping:
            now = self._clock.monotonic()
            recent = now - 2 * self._overload_lag
            if self._lag is not None and self._lag.worst_since(recent) >= self._overload_lag:
                self._adapt(behind=True)  # the loop is stalling now: let fewer in at once
            self._held = False
            while self._heap and self._heap[0][0] <= now:
                due, _, key, generation = self._heap[0]
                entry = self._entries.get(key)
                if entry is None or entry.generation != generation or entry.running:
                    heapq.heappop(self._heap)
                    continue
                if due != entry.due:
                    heapq.heappop(self._heap)
                    continue  # superseded: a recheck moved the entry's run earlier
                if self._active >= int(self._cap):
                    self._held = True  # no free slot: it waits, most overdue first
                    break
                heapq.heappop(self._heap)
                self._launch(entry)
            if self._heap and self._heap[0][0] <= now:
                delay = 3600.0  # only a finishing run frees a slot, and it wakes this loop
            else:
                delay = self._heap[0][0] - now if self._heap else 3600.0
            await sleep_or_wakeup(self._clock, delay, self._wakeup)

    async def stop(self, grace: float) -> int:
        """Launch nothing more; wait up to `grace` seconds for running checks, cancel the rest.

        Returns how many runs were cancelled.
        """
        self._stopping = True
        self._wakeup.set()
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    def recheck(self, keys: Iterable[CheckKey]) -> int:
        """Run these checks again now for a fresh result (a parent recovered), through the
        handler like any run; returns how many are scheduled.

        A run already under way started before the request: the check runs again once it ends.
        """
        now = self._clock.monotonic()
        count = 0
        for key in set(keys):
            entry = self._entries.get(key)
            if entry is None:
                continue
            count += 1
            entry.recheck = True
            if not entry.running:
                entry.due = now
                self._push(entry)
        if count:
            self._wakeup.set()
        return count

    async def run_now(
        self, check: ResolvedCheck, collector: Collector
    ) -> tuple[CheckResult, RunInfo]:
        """Run one check at once, outside the schedule (for `watchd probe`)."""
        entry = _Entry(check, collector, self._clock.monotonic(), -1, self._pings)
        return await self._collect(entry, lag=0.0)

    def _push(self, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.due, next(self._seq), entry.check.key, entry.generation))

    def _launch(self, entry: _Entry) -> None:
        entry.running = True
        self._active += 1
        task = asyncio.create_task(
            self._run(entry), name=f"watchd.check:{entry.check.item}/{entry.check.name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, entry: _Entry) -> None:
        rearm = False
        try:
            recheck, entry.recheck = entry.recheck, False
            lag = max(0.0, self._clock.monotonic() - entry.due)
            self.max_lag = max(self.max_lag, lag)
            try:
                result, info = await self._collect(entry, lag)
            finally:
                self._active -= 1
                if self._held:
                    self._wakeup.set()  # a slot is free for the check waiting in the heap
            if recheck:
                info = replace(info, recheck=True)
            self._adapt(info.behind > 0.0)
            if self._alarm is not None:
                self._alarm.run_finished(entry.check.interval, lag, info.overloaded)
            # A fresh result was asked for and this one was withheld: the next run, at its
            # usual time (not at once, which would add to the load), is the fresh one.
            rearm = recheck and info.overloaded
            self.runs += 1
            entry.retrying = await self._handler(entry.check, result, info)
        finally:
            entry.running = False
            if not entry.removed and not self._stopping:
                self._reschedule(entry)
            entry.recheck = entry.recheck or rearm

    def _adapt(self, behind: bool) -> None:
        """Halve the runs let in at once after a run that was behind; one more after one that
        was not. Halving waits `overload_lag` for the runs already going to finish."""
        now = self._clock.monotonic()
        if not behind:
            self._cap = min(float(self._max_concurrent), self._cap + 1.0)
        elif now - self._last_cut >= self._overload_lag:
            self._last_cut = now
            self._cap = max(1.0, min(self._cap, self._active + 1.0) / 2)

    def _reschedule(self, entry: _Entry) -> None:
        now = self._clock.monotonic()
        check = entry.check
        if entry.recheck:
            entry.due = now
        elif entry.retrying:
            entry.due = now + check.retry_interval
        else:
            # Fixed rate keeps the spread that jitter gave; a run that overran starts again now.
            entry.due = max(entry.due + check.interval, now)
        self._push(entry)
        if self._heap[0][2] == check.key:
            self._wakeup.set()

    async def _collect(self, entry: _Entry, lag: float) -> tuple[CheckResult, RunInfo]:
        started_wall = self._clock.now()
        started = self._clock.monotonic()
        failed = False
        timeout = entry.check.timeout
        try:
            async with asyncio.timeout(timeout):
                result = await entry.collector.collect(entry.ctx)
        except TimeoutError:
            failed = True
            result = CheckResult(
                Status.CRITICAL, f"check timed out after {format_duration(timeout)}"
            )
        except Exception as exc:  # a collector bug must not stop the schedule
            failed = True
            result = CheckResult(Status.UNKNOWN, f"collector {entry.check.kind} failed: {exc!r}")
        duration = self._clock.monotonic() - started
        behind = self._lag.worst_since(started) if self._lag is not None else 0.0
        if failed and duration > timeout:
            behind = max(behind, duration - timeout)  # the timeout itself fired late
        if behind < self._overload_lag:
            behind = 0.0
        overloaded = behind > 0.0 and not result.status.is_ok
        if overloaded:
            result = overloaded_result(result, behind)
        return result, RunInfo(
            started_wall, duration, lag, failed, behind=behind, overloaded=overloaded
        )
