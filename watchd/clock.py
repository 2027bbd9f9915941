"""Injected time: everything that waits or timestamps takes a Clock, so tests advance a fake one."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
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


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told: `advance` wakes the sleepers whose time has come."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in due order and letting woken tasks run.

        A task woken on the way may sleep again; if its new deadline still falls inside the
        advanced span it is woken too, as on a real clock.
        """
        target = self._mono + seconds
        await _let_tasks_run()  # work that is ready now happens before time moves
        while self._sleepers and self._sleepers[0][0] <= target:
            self._set(self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._mono:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await _let_tasks_run()
        self._set(target)
        await _let_tasks_run()

    def _set(self, mono: float) -> None:
        delta = mono - self._mono
        if delta > 0:
            self._mono = mono
            self._now += delta


async def _let_tasks_run() -> None:
    # Several hops: a woken task may await other ready futures before it sleeps again.
    for _ in range(20):
        await asyncio.sleep(0)
