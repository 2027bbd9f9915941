"""The SQLite driver: each statement is one trip to the connection's thread, with the same results."""

from __future__ import annotations

import sqlite3
import threading
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import IntegrityError, OperationalError

from watchd.store import sqlite_driver
from watchd.store.engine import create_engine, write_transaction


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the calls made on the connections' threads."""
    made: list[str] = []
    real = sqlite_driver.OneTripConnection.in_thread

    def counted(self: sqlite_driver.OneTripConnection, call: object) -> object:
        made.append("statement")
        return real(self, call)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_driver.OneTripConnection, "in_thread", counted)
    return made


async def test_a_query_with_rows_is_one_trip_and_returns_every_row(
    tmp_path: Path, trips: list[str]
) -> None:
    """Execute, fetch and close happen in one call; all rows, in order, come back."""
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)"))
            inserted = await conn.execute(
                text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(i)} for i in range(500)]
            )
            assert inserted.rowcount == 500
            trips.clear()
            rows = (await conn.execute(text("SELECT n, v FROM t ORDER BY n"))).all()
        assert trips == ["statement"]
        assert [tuple(r) for r in rows] == [(i + 1, str(i)) for i in range(500)]
        async with engine.connect() as conn:
            one = await conn.execute(text("INSERT INTO t (v) VALUES ('x') RETURNING n"))
            assert one.scalar_one() == 501
            await conn.rollback()
    finally:
        await engine.dispose()


async def test_errors_are_sqlalchemys_and_the_connection_stays_usable(tmp_path: Path) -> None:
    """A failing statement raises SQLAlchemy's own error; the next statement works."""
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(IntegrityError):
            async with write_transaction(engine) as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(OperationalError, match="no such table"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM missing"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await engine.dispose()


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


async def test_a_database_that_cannot_be_opened_leaves_no_thread_running(tmp_path: Path) -> None:
    """A failed open has stopped its connection thread when the error is raised, so the thread
    never answers an event loop that closed meanwhile ("Event loop is closed" in a thread)."""
    (tmp_path / "dir.db").mkdir()
    before = set(_worker_threads())
    connect = sqlite_driver.connector(make_url(f"sqlite+aiosqlite:///{tmp_path}/dir.db"))
    for _ in range(20):
        with pytest.raises(sqlite3.OperationalError):
            await connect()
        assert [t for t in _worker_threads() if t not in before] == []


async def test_a_long_result_comes_whole_in_a_second_trip(tmp_path: Path, trips: list[str]) -> None:
    """Past FIRST_ROWS, an ordinary read fetches the rest in one more trip: every row, in order."""
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    count = sqlite_driver.FIRST_ROWS * 3 + 7
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
            await conn.execute(
                text("INSERT INTO t (n) VALUES (:n)"), [{"n": i} for i in range(count)]
            )
            trips.clear()
            rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert trips == ["statement", "statement"]
        assert rows == list(range(count))
    finally:
        await engine.dispose()


async def test_a_streamed_read_holds_a_chunk_not_the_whole_result(tmp_path: Path) -> None:
    """`conn.stream` with `yield_per` (the alert lists) reads a chunk per trip: 40,000 rows of
    1 kB stream through in order, with another statement between chunks on the same
    connection, and the memory taken never comes near the 40 MB of the whole result."""
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    count, size = 40_000, 1000
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)"))
            await conn.execute(
                text("INSERT INTO t (n, v) VALUES (:n, :v)"),
                [{"n": i, "v": f"{i:0{size}d}"} for i in range(count)],
            )
        seen: list[int] = []
        tracemalloc.start()
        try:
            async with engine.connect() as conn:
                result = await conn.stream(
                    text("SELECT n, v FROM t ORDER BY n").execution_options(yield_per=250)
                )
                async for rows in result.partitions(250):
                    seen.extend(r.n for r in rows)
                    assert all(len(r.v) == size for r in rows)
                    between = await conn.execute(text("SELECT count(*) FROM t"))
                    assert between.scalar_one() == count
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen == list(range(count))
        assert peak < 8_000_000, f"{peak / 1e6:.1f} MB held while streaming"
    finally:
        await engine.dispose()
