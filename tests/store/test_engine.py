"""Engine set-up: URL defaults, SQLite pragmas on every connection, concurrent writers, and the
one wrapping of database and OS errors into StoreError."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.store import AvailabilitySample, Store, StoreError
from watchd.store.engine import (
    BUSY_TIMEOUT_MS,
    WAL_AUTOCHECKPOINT_PAGES,
    async_url,
    create_engine,
    reading,
    store_errors,
    writing,
)


def test_plain_urls_get_the_async_drivers() -> None:
    """Config may say sqlite:// or postgresql://; the store uses aiosqlite and asyncpg."""
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@127.0.0.1/db").drivername == "postgresql+asyncpg"
    assert async_url("postgres://u@127.0.0.1/db").drivername == "postgresql+asyncpg"
    assert async_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"


async def test_sqlite_connections_are_wal_with_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection (not only the first) runs WAL (checkpointed every 10,000
    pages, not SQLite's 1,000), synchronous=NORMAL, a busy timeout and foreign keys, and the
    file's directory is created."""
    engine = create_engine(f"sqlite:///{tmp_path}/a/b/watchd.db")
    try:
        async with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                pragmas = [
                    (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in (
                        "journal_mode",
                        "wal_autocheckpoint",
                        "synchronous",
                        "busy_timeout",
                        "foreign_keys",
                    )
                ]
                assert pragmas == ["wal", WAL_AUTOCHECKPOINT_PAGES, 1, BUSY_TIMEOUT_MS, 1]
                assert WAL_AUTOCHECKPOINT_PAGES == 10_000
    finally:
        await engine.dispose()
    assert (tmp_path / "a/b/watchd.db").exists()


async def test_sqlite_sync_full_makes_every_connection_fsync_each_commit(tmp_path: Path) -> None:
    """`[store] sqlite_sync = "full"`: every connection runs synchronous=FULL (power-loss safe)."""
    engine = create_engine(f"sqlite:///{tmp_path}/watchd.db", sqlite_sync="full")
    try:
        async with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                assert (await conn.execute(text("PRAGMA synchronous"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_concurrent_writers_do_not_lock_each_other_out(store: Store) -> None:
    """Sample flushes, state saves and state reads running at the same time all succeed."""

    async def flusher(n: int) -> None:
        for i in range(20):
            store.record_sample(AvailabilitySample(f"item{n}", "ping", float(i), 0, 0.01))
            await store.flush()

    async def saver(n: int) -> None:
        for i in range(20):
            await store.save_state("checks", f"item{n}", {"attempt": i})
            await store.load_states("checks")

    await asyncio.wait_for(
        asyncio.gather(*(flusher(n) for n in range(4)), *(saver(n) for n in range(4))),
        timeout=60,
    )
    assert await store.sample_count() == 80
    assert await store.load_states("checks") == {f"item{n}": {"attempt": 19} for n in range(4)}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite engine with one table `t` holding nothing."""
    created = create_engine(f"sqlite:///{tmp_path}/watchd.db")
    async with created.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield created
    await created.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one())


async def test_a_database_error_becomes_a_store_error_naming_the_operation(
    engine: AsyncEngine,
) -> None:
    """A failing statement raises StoreError with the operation and the driver's first line."""
    with pytest.raises(StoreError) as caught:
        async with reading(engine, "read the missing table") as conn:
            await conn.execute(text("SELECT * FROM missing"))
    assert caught.value.operation == "read the missing table"
    assert caught.value.reason == "no such table: missing"
    assert str(caught.value) == "The store could not read the missing table: no such table: missing"
    assert isinstance(caught.value.__cause__, OperationalError)


async def test_full_reason_keeps_sqlalchemys_whole_text(engine: AsyncEngine) -> None:
    """With full_reason the reason is SQLAlchemy's message, statement included, as it was."""
    with pytest.raises(StoreError) as caught:
        async with writing(engine, "write the missing table", full_reason=True) as conn:
            await conn.execute(text("DELETE FROM missing"))
    assert caught.value.reason == str(caught.value.__cause__)
    assert caught.value.reason.startswith("(sqlite3.OperationalError) no such table: missing")
    assert "[SQL: DELETE FROM missing]" in caught.value.reason


async def test_an_os_error_becomes_a_store_error_and_the_write_is_rolled_back(
    engine: AsyncEngine,
) -> None:
    """An OSError inside a write (a full disk) raises StoreError; nothing of it is committed."""
    with pytest.raises(StoreError) as caught:
        async with writing(engine, "insert a row") as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.reason == "[Errno 28] No space left on device"
    assert isinstance(caught.value.__cause__, OSError)
    assert await count(engine) == 0


async def test_other_exceptions_pass_through_unwrapped(engine: AsyncEngine) -> None:
    """A fault of the caller is not the store's: it leaves as itself, and the write rolls back."""
    with pytest.raises(ValueError, match="not the store"):
        async with writing(engine, "insert a row") as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            raise ValueError("not the store")
    assert await count(engine) == 0
    with pytest.raises(KeyError), store_errors("look something up"):
        raise KeyError("x")


async def test_a_database_that_cannot_be_opened_gives_a_store_error(tmp_path: Path) -> None:
    """Connecting is wrapped too: a database path that is a directory names the operation."""
    (tmp_path / "dir.db").mkdir()
    unopenable = create_engine(f"sqlite:///{tmp_path}/dir.db")
    try:
        with pytest.raises(StoreError) as caught:
            async with reading(unopenable, "count samples"):
                pass
    finally:
        await unopenable.dispose()
    assert caught.value.operation == "count samples"
    assert caught.value.reason == "unable to open database file"


async def test_writes_through_the_helper_are_committed(engine: AsyncEngine) -> None:
    """A write that succeeds is committed on leaving the block."""
    async with writing(engine, "insert a row") as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
    assert await count(engine) == 1
