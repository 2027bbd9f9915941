"""Fixtures: every store test runs on SQLite (a temp file) and on a real local PostgreSQL 15.

PostgreSQL must be there: if it is down the fixture tries to start the local cluster, and
fails the tests if it still cannot connect (CI must notice a missing PostgreSQL, not skip).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy import text

from watchd.clock import FakeClock
from watchd.store import Store

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_reachable() -> bool:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _ensure_pg() -> None:
    if _pg_reachable():
        return
    for version in (
        sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    ):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            timeout=60,
            check=False,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _pg_reachable():
            return
        time.sleep(0.5)
    pytest.fail(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} and could not be started")


def pg_create_database() -> str:
    """Create a fresh, uniquely named database and return its asyncpg URL."""
    _ensure_pg()
    name = f"watchd_test_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def pg_drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (its URL) for the block, dropped after it."""
    url = pg_create_database()
    try:
        yield url
    finally:
        pg_drop_database(url)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database for the whole test session, dropped at the end."""
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A database URL, once for SQLite (a file in a not yet existing directory), once for PG."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/watchd.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(db_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """An open, migrated, empty store; closed after the test."""
    opened = await Store.open(db_url, clock=clock, batch_size=10, flush_interval=1.0)
    if opened.engine.dialect.name == "postgresql":
        # The PostgreSQL database lives for the session: empty it for each test.
        async with opened.engine.begin() as conn:
            await conn.execute(text("TRUNCATE samples, states, alerts"))
    yield opened
    await opened.close()


async def eventually(
    condition: Callable[[], Awaitable[bool]], within: float = 10.0, poll: float = 0.01
) -> None:
    """Wait, at most `within` seconds, for real I/O done by a background task (or another
    process) to make `condition` true, asking it every `poll` seconds."""
    # Polling on purpose: the condition is a database query, there is no event to wait on.
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(poll)
