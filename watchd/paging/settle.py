"""Knowing when a simulated instant is over: the FakeClock may move on only once every task
woken at this instant has done all it will do without time passing.

Tasks either run on the event loop or wait for the database, whose driver answers from its own
thread. The instant is over when, twice in a row, the loop has nothing ready to run (no
callback ready, no timer due now) and no database connection is checked out (no statement or
transaction in flight); while one is, its thread gets a moment of real time. The store has one
connection in a paging test, so transactions also run one at a time, in the order asked.

asyncio has no public way to ask whether callbacks are ready: this is the one module that
reads its internals (`BaseEventLoop._ready` and `._scheduled`, the same since Python 3.4).
On a loop without them (uvloop) it falls back to turning the loop a fixed number of times.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

QUIET_CHECKS = 2  # checks in a row that found the loop and the store idle
FALLBACK_TURNS = 10  # turns per check on a loop whose internals cannot be read
THREAD_WAIT = 0.0002  # real seconds for the database thread to answer
STUCK_AFTER = 60.0  # real seconds without settling before giving up


class Stuck(RuntimeError):
    """An instant did not settle within STUCK_AFTER real seconds: a wait that never ends."""


class Settler:
    """The FakeClock's `settle` for a store on `engine` (set once the store is open)."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        quiet = 0
        since = time.monotonic()
        while quiet < QUIET_CHECKS:
            await _turn(loop)
            if _busy(loop):
                quiet = 0
            elif self._in_use():
                quiet = 0
                await asyncio.sleep(THREAD_WAIT)
            else:
                quiet += 1
            if quiet == 0 and time.monotonic() - since > STUCK_AFTER:
                raise Stuck(f"watchd did not settle within {STUCK_AFTER:.0f} s of real time")

    def _in_use(self) -> bool:
        if self.engine is None:
            return False
        checkedout = getattr(self.engine.pool, "checkedout", None)
        return bool(checkedout()) if checkedout is not None else False


async def _turn(loop: asyncio.AbstractEventLoop) -> None:
    turns = 1 if hasattr(loop, "_ready") else FALLBACK_TURNS
    for _ in range(turns):
        await asyncio.sleep(0)


def _busy(loop: Any) -> bool:
    """Callbacks are ready to run, or a timer is due now (a call_later(0))."""
    if not hasattr(loop, "_ready"):
        return False
    # asyncio internals (see the module doc)
    if loop._ready:  # noqa: SLF001
        return True
    now = loop.time()
    return any(not h.cancelled() and h.when() <= now for h in loop._scheduled)  # noqa: SLF001
