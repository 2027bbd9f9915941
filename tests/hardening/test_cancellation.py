"""Finding 12: a task cancelled in the middle of a database statement ends cancelled, at once,
and leaves the store working (issue 19)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from watchd.clock import SystemClock
from watchd.notify.wakeup import watch_outbox
from watchd.store import Store
from watchd.store.engine import writing

# A statement SQLite needs many seconds for: counting to 30 million.
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000000) "
    "SELECT count(*) FROM c"
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A SQLite store with the dispatcher's outbox listener, as the daemon has it."""
    opened = await Store.open(f"sqlite:///{tmp_path / 'watchd.db'}", clock=SystemClock())
    unwatch = watch_outbox(opened.engine, lambda: None)
    yield opened
    unwatch()
    await opened.close()


async def slow_write(store: Store) -> None:
    async with writing(store.engine, "count slowly") as conn:
        await conn.execute(text(SLOW))


async def test_a_write_cancelled_mid_statement_ends_cancelled_within_a_second(
    store: Store,
) -> None:
    """Cancelling a transaction during a long statement raises CancelledError (never a store
    error a retrying loop would swallow) within a second, and the next transaction works."""
    task = asyncio.create_task(slow_write(store))
    await asyncio.sleep(0.3)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), 30)
    assert time.monotonic() - cancelled_at < 1.0
    async with writing(store.engine, "write again") as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
