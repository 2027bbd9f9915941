"""Issue 19, finding 7: a transaction PostgreSQL picks as a deadlock's victim runs again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.clock import FakeClock
from watchd.store import Store, StoreError
from watchd.store.engine import transact

pytestmark = pytest.mark.integration


@pytest.fixture
async def pg_store(fresh_pg_url: str) -> AsyncIterator[Store]:
    store = await Store.open(fresh_pg_url, clock=FakeClock())
    await store.save_states("test", {"a": {}, "b": {}})
    yield store
    await store.close()


LOCK = text("SELECT key FROM states WHERE namespace = 'test' AND key = :key FOR UPDATE")


async def test_a_deadlock_victim_runs_again_and_both_commit(pg_store: Store) -> None:
    """Two transactions locking the same rows in opposite orders both commit: the one PostgreSQL aborts for the deadlock runs again instead of failing."""
    both_hold_one = asyncio.Barrier(2)
    runs = {"ab": 0, "ba": 0}

    def body(first: str, second: str) -> object:
        async def run(conn: AsyncConnection) -> None:
            runs[first + second] += 1
            await conn.execute(LOCK, {"key": first})
            if runs[first + second] == 1:
                await both_hold_one.wait()
            await conn.execute(LOCK, {"key": second})

        return run

    await asyncio.wait_for(
        asyncio.gather(
            transact(pg_store.engine, "lock a then b", body("a", "b")),  # type: ignore[arg-type]
            transact(pg_store.engine, "lock b then a", body("b", "a")),  # type: ignore[arg-type]
        ),
        timeout=30,
    )
    assert sorted(runs.values()) == [1, 2]  # the victim ran twice, the other once


async def test_a_lock_that_stays_taken_surfaces_as_a_store_error(pg_store: Store) -> None:
    """A transaction that keeps losing (a NOWAIT lock held throughout) is tried five times, then fails as a StoreError the API answers 503 to."""
    runs = 0

    async def body(conn: AsyncConnection) -> None:
        nonlocal runs
        runs += 1
        await conn.execute(
            text("SELECT key FROM states WHERE namespace = 'test' AND key = 'a' FOR UPDATE NOWAIT")
        )

    async with pg_store.engine.begin() as holder:
        await holder.execute(LOCK, {"key": "a"})
        with pytest.raises(StoreError, match="could not lock the row"):
            await transact(pg_store.engine, "lock the row", body)
    assert runs == 5
