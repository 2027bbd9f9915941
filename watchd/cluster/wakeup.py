"""LISTEN on PostgreSQL's `watchd_cluster` channel: a node that joins or leaves wakes the
others' heartbeat at once instead of at their next tick (polling stays the fallback).

The listener is a dedicated asyncpg connection, outside SQLAlchemy's pool: a pooled connection
is handed to other work between uses and would lose its LISTEN.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from watchd.cluster.queries import CHANNEL

CONNECT_TIMEOUT = 5.0


class Wakeup:
    """`event` is set when another node notifies; `ensure` (re)connects the listener."""

    def __init__(self, url: URL, *, me: str) -> None:
        self.event = asyncio.Event()
        self._me = me
        # asyncpg takes a plain postgresql:// DSN, password included.
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: asyncpg.Connection | None = None

    async def ensure(self) -> bool:
        """Listen, connecting if the listener is not connected; False when that failed."""
        if self._conn is not None and not self._conn.is_closed():
            return True
        self._conn = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            conn.terminate()
            return False
        self._conn = conn
        return True

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != self._me:
            self.event.set()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1.0)
