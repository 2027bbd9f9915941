"""aiosqlite with one trip to the connection's thread per statement instead of three or four.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's adapter
makes a call for each step of a statement: create a cursor, execute, fetch the rows, close
the cursor. Each trip is a wake-up of that thread and of the event loop; on one core they
cost more than the SQL of a small statement (a fifth of the CPU of a burst of new alerts).
`BufferedCursor` does the four steps in one call on the thread and hands SQLAlchemy the
rows, counts and description it read. A statement with more than FIRST_ROWS rows keeps its
sqlite3 cursor open on the thread and hands out the rest a chunk per trip as SQLAlchemy
fetches them: a streamed read (`conn.stream` with `yield_per`, the alert lists) holds a chunk
in memory, not the whole result (100,000 firing alerts read at once took ~85 MB before the
first chunk was handed out); an ordinary read fetches the rest in one second trip.

`InLoopConnection` runs every call at once on the event loop's own thread instead, for a
simulation on a fake clock (`watchd test-paging`), where a statement must be over before
simulated time moves on; it blocks the loop while SQLite works, so the daemon never uses it.

This is the one module that reaches into aiosqlite's internals, since aiosqlite has no public
way to run a function on its thread: `Connection._execute` (queue a call to the thread) and
`Connection._conn` (the sqlite3 connection there), which SQLAlchemy's own adapter relies on
as well, `Connection._thread` (made a daemon, as SQLAlchemy does, and waited for after a
failed open) and `Connection._tx` (the queue of calls for the thread, which SQLAlchemy's
adapter also feeds directly; InLoopConnection replaces it with one that runs each call at
once). Checked against
aiosqlite 0.22.0 and 0.22.1: `_thread` exists since 0.22.0 (before it the connection was
itself the thread), so pyproject asks for 0.22 and stays below 0.23, aiosqlite being 0.x.
tests/store runs every store operation through this module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.engine import URL

_Description = tuple[tuple[Any, ...], ...] | None
# description, the first rows, rowcount, lastrowid, and the cursor while it has more rows
_Outcome = tuple[_Description, list[Any], int, int | None, sqlite3.Cursor | None]
_T = TypeVar("_T")

FIRST_ROWS = 1024  # rows read with the statement; the rest wait on the thread for fetches


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors make one thread trip per statement."""

    def cursor(self) -> BufferedCursor:  # type: ignore[override]
        return BufferedCursor(self)

    async def in_thread(self, call: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `call` with the sqlite3 connection on the connection's thread.

        A caller cancelled meanwhile interrupts the statement running there, so that it ends
        now rather than when SQLite is done: SQLAlchemy drops a connection whose statement
        was cancelled, and closing it waits for the thread. (A wait for another process's
        lock is not interrupted; it ends within the busy timeout.)
        """
        # aiosqlite internals (see the module doc); ruff's SLF001 does not flag `self._`.
        sqlite = self._conn
        outcome: Awaitable[_T] = self._execute(lambda: call(sqlite))  # type: ignore[no-untyped-call]
        try:
            return await outcome
        except asyncio.CancelledError:
            sqlite.interrupt()  # made to be called from another thread
            raise


class _RunNow:
    """Stands in for the queue of calls to the connection's thread: runs each call at once."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # the caller's future carries it, as the thread's would
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InLoopConnection(OneTripConnection):
    """A OneTripConnection whose calls run on the event loop's thread, no thread of its own."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]  # (aiosqlite internals: module doc)

    def __await__(self) -> Generator[Any, None, InLoopConnection]:
        return self._connect().__await__()  # type: ignore[return-value]


class BufferedCursor:
    """The DB-API cursor SQLAlchemy's aiosqlite adapter drives, answered from one thread call
    (two or more for a result of over FIRST_ROWS rows: see the module doc)."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []
        self._more: sqlite3.Cursor | None = None  # open on the thread while rows remain there

    async def __aenter__(self) -> BufferedCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> BufferedCursor:
        return await self._run(lambda cursor: cursor.execute(sql, parameters or ()))

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> BufferedCursor:
        return await self._run(lambda cursor: cursor.executemany(sql, parameters))

    async def _run(self, step: Callable[[sqlite3.Cursor], object]) -> BufferedCursor:
        await self.close()

        def whole(conn: sqlite3.Connection) -> _Outcome:
            cursor = conn.cursor()
            more: sqlite3.Cursor | None = None
            try:
                step(cursor)
                rows = cursor.fetchmany(FIRST_ROWS) if cursor.description else []
                if len(rows) == FIRST_ROWS:
                    more = cursor
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid, more
            finally:
                if more is None:
                    cursor.close()

        outcome = await self._connection.in_thread(whole)
        self.description, self._rows, self.rowcount, self.lastrowid, self._more = outcome
        return self

    async def _fetch(self, size: int | None) -> None:
        """Read `size` more rows (all with None) from the open cursor on the thread; close
        it there once it has none left."""
        cursor = self._more
        if cursor is None:
            return

        def read(_conn: sqlite3.Connection) -> list[Any]:
            rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
            if size is None or len(rows) < size:
                cursor.close()
            return rows

        try:
            rows = await self._connection.in_thread(read)
        except BaseException:
            self._more = None
            raise
        if size is None or len(rows) < size:
            self._more = None
        self._rows.extend(rows)

    async def fetchone(self) -> Any:
        if not self._rows:
            await self._fetch(FIRST_ROWS)
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self.arraysize if size is None else size
        if len(self._rows) < count:
            await self._fetch(max(count - len(self._rows), FIRST_ROWS))
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> Sequence[Any]:
        await self._fetch(None)
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []
        cursor, self._more = self._more, None
        if cursor is not None:
            await self._connection.in_thread(lambda _conn: cursor.close())


def connector(
    url: URL, *, in_loop: bool = False, before: Callable[[], None] | None = None
) -> Callable[[], Awaitable[OneTripConnection]]:
    """The `async_creator` for SQLAlchemy: a connected OneTripConnection to `url`'s file (an
    InLoopConnection with `in_loop`); `before` runs first and may refuse by raising."""
    database = url.database or ":memory:"

    async def connect() -> OneTripConnection:
        if before is not None:
            before()
        if in_loop:
            return await InLoopConnection(lambda: sqlite3.connect(database), iter_chunk_size=64)
        connection = OneTripConnection(lambda: sqlite3.connect(database), iter_chunk_size=64)
        # As SQLAlchemy does for aiosqlite: a connection left open must not keep the
        # process alive at exit.
        thread = connection._thread  # noqa: SLF001 (aiosqlite internals: see the module doc)
        thread.daemon = True
        try:
            await connection  # starts the thread and opens the file on it
        except Exception:
            # aiosqlite queues its thread's stop on a failed open without waiting for it; the
            # thread would then answer that stop on an event loop that may have closed by then
            # ("RuntimeError: Event loop is closed" in the thread). Wait until it has stopped.
            await asyncio.to_thread(thread.join)
            raise
        return connection

    return connect
