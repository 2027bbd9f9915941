"""Engine set-up: URL defaults, SQLite pragmas on every connection, concurrent writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from watchd.store import AvailabilitySample, Store
from watchd.store.engine import BUSY_TIMEOUT_MS, async_url, create_engine


def test_plain_urls_get_the_async_drivers() -> None:
    """Config may say sqlite:// or postgresql://; the store uses aiosqlite and asyncpg."""
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert async_url("postgresql://u@127.0.0.1/db").drivername == "postgresql+asyncpg"
    assert async_url("postgres://u@127.0.0.1/db").drivername == "postgresql+asyncpg"
    assert async_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"


async def test_sqlite_connections_are_wal_with_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection (not only the first) runs WAL, synchronous=NORMAL, a busy
    timeout and foreign keys, and the file's directory is created."""
    engine = create_engine(f"sqlite:///{tmp_path}/a/b/watchd.db")
    try:
        async with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                pragmas = [
                    (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
                ]
                assert pragmas == ["wal", 1, BUSY_TIMEOUT_MS, 1]
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
