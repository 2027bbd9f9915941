"""Injected time: everything that waits or timestamps takes a Clock, so tests advance a fake one."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps that are stored or shown)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""
        ...

    async def sleep_unless_set(self, seconds: float, event: asyncio.Event) -> None:
        """Wait `seconds` on this clock, or until `event` is set if that comes first."""
        ...


async def sleep_or_wakeup(clock: Clock, seconds: float, wakeup: asyncio.Event) -> None:
    """Wait `seconds` on `clock`, or less if `wakeup` is set (at once if it is already);
    `wakeup` is clear on return, so a loop wakes again only for what happens from then on."""
    if wakeup.is_set():
        wakeup.clear()
        return
    await clock.sleep_unless_set(seconds, wakeup)
    wakeup.clear()


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_unless_set(self, seconds: float, event: asyncio.Event) -> None:
        # One timer on the event's own waiter. Racing a sleep task against a wait task cost two
        # tasks, a wait and two cancellations per wake-up, and the scheduler wakes hundreds of
        # times a second.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await event.wait()


class FakeClock:
    """A clock that only moves when told: `advance` wakes the sleepers whose time has come.

    `settle` is awaited whenever woken tasks should run before time moves on; by default it
    lets the event loop turn a few times, enough for work that awaits nothing but the loop.
    Work that waits on threads (a database driver) needs a settle that knows when it is done
    (see watchd.paging.settle).
    """

    def __init__(
        self,
        start: float = 1_800_000_000.0,
        *,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._settle = settle or _let_tasks_run

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def sleep_unless_set(self, seconds: float, event: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def advance(self, seconds: float, *, inclusive: bool = True) -> None:
        """Move time forward, waking sleepers in due order and letting woken tasks run.

        A task woken on the way may sleep again; if its new deadline still falls inside the
        advanced span it is woken too, as on a real clock. With `inclusive` False the sleepers
        due exactly at the new time stay asleep until the next `advance` (`advance(0)` wakes
        them), so what the caller does at that moment comes before them.
        """
        target = self._mono + seconds
        await self._settle()  # work that is ready now happens before time moves
        while self._sleepers and (
            self._sleepers[0][0] < target or (inclusive and self._sleepers[0][0] == target)
        ):
            self._set(self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._mono:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self._settle()
        self._set(target)
        await self._settle()

    def step(self, seconds: float) -> None:
        """Step the wall clock by `seconds` (negative: back), as NTP or an operator may; the
        monotonic clock and the sleepers are not affected."""
        self._now += seconds

    def _set(self, mono: float) -> None:
        delta = mono - self._mono
        if delta > 0:
            self._mono = mono
            self._now += delta


async def _let_tasks_run() -> None:
    # Several hops: a woken task may await other ready futures before it sleeps again.
    for _ in range(20):
        await asyncio.sleep(0)
