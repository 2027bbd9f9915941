"""Build the async engine: URL defaults, SQLite pragmas on every connection, write transactions,
and the one place where database and OS errors become StoreError (`writing`, `reading`).

SQLite runs in WAL mode. With synchronous=NORMAL (the default) a committed transaction survives
the process being killed (the WAL is in the OS page cache); a power loss may lose the last
commits but never corrupts the file. With synchronous=FULL (`[store] sqlite_sync = "full"`)
each commit is fsync'd and survives a power loss as well. A busy timeout makes concurrent
writers wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from watchd.logging import get_logger
from watchd.store import committed as committed_tallies
from watchd.store.errors import StoreError, refused_data
from watchd.store.json_text import dumps, loads
from watchd.store.sqlite_driver import connector

log = get_logger("watchd.store")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
# WAL pages after which a commit copies the WAL back into the database (SQLite's default is
# 1,000, 4 MB). Each checkpoint rewrites every page the WAL holds: inserts into big indexes on
# random keys (fingerprints) dirty a page per row, so with the default a checkpoint ran at
# nearly every ingestion commit and was over a third of the writes' CPU. At 10,000 a page
# written by several commits is copied once.
WAL_AUTOCHECKPOINT_PAGES = 10_000
SqliteSync = Literal["normal", "full"]
_BEGIN_OPTION = "watchd_sqlite_begin"

# Plain scheme names in config map to the async drivers watchd ships with.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> URL:
    """Parse a database URL, choosing aiosqlite or asyncpg when no driver is named."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_engine(
    url: str,
    *,
    sqlite_sync: SqliteSync = "normal",
    in_loop: bool = False,
    before_connect: Callable[[], None] | None = None,
) -> AsyncEngine:
    """Create the engine for `url`; for a SQLite file, create its directory first.

    `sqlite_sync` is SQLite's synchronous mode: "normal" or "full" (see the module doc).
    `in_loop` (SQLite only) runs SQLite on the event loop's thread over one connection, so
    transactions happen one at a time in the order asked and each is over when its await
    returns: for simulations on a fake clock (`watchd test-paging`), never for the daemon.
    `before_connect` (SQLite only) runs before each new connection opens the file, and may
    refuse it by raising.
    """
    parsed = async_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(
            parsed, pool_pre_ping=True, json_serializer=dumps, json_deserializer=loads
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    pool: dict[str, Any] = {"pool_size": 1, "max_overflow": 0} if in_loop else {}
    creator = connector(parsed, in_loop=in_loop, before=before_connect)
    engine = create_async_engine(
        parsed,
        async_creator=creator,
        json_serializer=dumps,
        json_deserializer=loads,
        **pool,
    )
    event.listen(engine.sync_engine, "connect", partial(_sqlite_on_connect, sqlite_sync))
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def sqlite_path(database_url: str) -> Path | None:
    """The absolute path of a SQLite URL's file; None for PostgreSQL and in-memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def _sqlite_on_connect(sync: SqliteSync, dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is turned off so SQLAlchemy's begin event emits a real
    # one: reads inside a transaction see one snapshot, and DDL in migrations is transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={sync.upper()}",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: committed on exit, rolled back on error.

    On SQLite it starts with BEGIN IMMEDIATE, taking the write lock up front (waiting up to the
    busy timeout); a deferred transaction that reads first and writes later could instead fail
    at once with SQLITE_BUSY when another connection wrote in between. The process's own
    writers queue for that lock in order first (`_write_turn`).
    """
    async with _write_turn(engine), engine.connect() as conn:
        await conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        try:
            async with conn.begin():
                yield conn
        except BaseException:
            committed_tallies.take(conn)  # rolled back: nothing it counted happened
            raise
        committed_tallies.committed(engine, committed_tallies.take(conn))


# SQLite's writers, by engine: the event loop and a lock that loop's writers queue on.
_WRITE_TURNS: WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    WeakKeyDictionary()
)


@asynccontextmanager
async def _write_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Wait for this process's earlier SQLite writers, first come first served.

    SQLite's busy handler polls the lock with growing sleeps: a writer that commits and begins
    again at once (a long sweep, a chunk at a time) took the lock again and again while the
    others slept, and they failed after the busy timeout with "database is locked". The wait
    here is bounded by the same busy timeout; PostgreSQL locks rows, not the database, and
    needs no turn.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    loop = asyncio.get_running_loop()
    turn = _WRITE_TURNS.get(engine.sync_engine)
    if turn is None or turn[0] is not loop:
        turn = _WRITE_TURNS[engine.sync_engine] = (loop, asyncio.Lock())
    lock = turn[1]
    acquired = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(BUSY_TIMEOUT_MS / 1000):
            acquired = await lock.acquire()
    if not acquired:  # raised here, not while handling the timeout's own cancellation
        seconds = BUSY_TIMEOUT_MS / 1000
        raise TimeoutError(f"database is locked: other writers held it for {seconds:g}s")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def store_errors(operation: str, *, full_reason: bool = False) -> Iterator[None]:
    """Turn database and OS errors raised inside into StoreError(`operation`, reason).

    The reason is the driver's first line (StoreError.wrap); `full_reason` keeps SQLAlchemy's
    whole text instead, statement and parameters included, which the pipeline, operator
    actions, outbox and delivery log have always reported. Other exceptions pass through.
    """
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        if _while_cancelled(exc):
            # Failing to clean up after a cancellation is still the cancellation: as a
            # StoreError, a loop that retries store errors would never stop.
            raise asyncio.CancelledError from exc
        if full_reason:
            raise StoreError(operation, str(exc), outage=not refused_data(exc)) from exc
        raise StoreError.wrap(operation, exc) from exc


def _while_cancelled(exc: BaseException) -> bool:
    """Whether `exc` was raised while a cancellation was being handled."""
    seen: BaseException | None = exc.__context__
    while seen is not None:
        if isinstance(seen, asyncio.CancelledError):
            return True
        seen = seen.__context__
    return False


@asynccontextmanager
async def writing(
    engine: AsyncEngine, operation: str, *, full_reason: bool = False
) -> AsyncIterator[AsyncConnection]:
    """A write_transaction whose database and OS errors raise StoreError (see store_errors)."""
    with store_errors(operation, full_reason=full_reason):
        async with write_transaction(engine) as conn:
            yield conn


# PostgreSQL's answers that say "this transaction lost a race, run it again": deadlock_detected,
# serialization_failure, and lock_not_available (a NOWAIT lock another transaction held; see
# watchd.incidents.ledger for why incident rows are locked NOWAIT out of id order).
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
TRANSACTION_ATTEMPTS = 5


def retryable(exc: BaseException) -> bool:
    """Whether `exc` is a transaction that lost a race with another and may simply run again."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES


async def transact(
    engine: AsyncEngine,
    operation: str,
    body: Callable[[AsyncConnection], Awaitable[T]],
    *,
    full_reason: bool = False,
    attempts: int = TRANSACTION_ATTEMPTS,
) -> T:
    """`body` in a write_transaction, run again from the start (at most `attempts` times in
    all) when PostgreSQL chose it as a deadlock's victim or refused a NOWAIT lock; then,
    like `writing`, a StoreError. `body` must be safe to run again: it starts from the
    database, never from what an attempt rolled back."""
    for attempt in range(1, attempts + 1):
        try:
            with store_errors(operation, full_reason=full_reason):
                async with write_transaction(engine) as conn:
                    return await body(conn)
        except StoreError as exc:
            if attempt == attempts or exc.__cause__ is None or not retryable(exc.__cause__):
                raise
            log.debug("transaction_retried", operation=operation, attempt=attempt)
            # Real time, not the injected clock: this lets the other transaction finish.
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def reading(
    engine: AsyncEngine, operation: str, *, full_reason: bool = False
) -> AsyncIterator[AsyncConnection]:
    """A connection for reads whose database and OS errors raise StoreError (see store_errors)."""
    with store_errors(operation, full_reason=full_reason):
        async with engine.connect() as conn:
            yield conn
