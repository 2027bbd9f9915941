"""Finding 12: a delivery outcome that meets "database is locked" is written again, not lost
(a lost outcome sends the notification again after its lease: a duplicate page) (issue 19)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from tests.notify.conftest import Hook, alert, hook_server, make_notify, notify_db  # noqa: F401
from watchd.store import engine

LOCKED_FOR = 1.5  # seconds another process holds SQLite's write lock once the receiver answered


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite gives up on a lock after 0.2 s here instead of 10 s, so an outage is quick."""
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 200)


async def test_an_outcome_written_while_another_process_locks_sqlite_is_recorded_once_free(
    make_notify: Any,  # noqa: F811
    hook_server: Any,  # noqa: F811
    notify_db: str,  # noqa: F811
) -> None:
    """Another process holding SQLite's write lock past the busy timeout right after a
    delivery delays its outcome's record, which is written once the lock is free: the row is
    delivered and logged once, never left leased to go out again."""
    database = Path(notify_db.removeprefix("sqlite:///"))
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)

    async def lock_after_answer(request: web.Request, n: int) -> None:
        holder.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(LOCKED_FOR, holder.execute, "COMMIT")

    hook: Hook = await hook_server(lock_after_answer)
    notify = await make_notify(
        {"receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}]}
    )
    await notify.send(alert("db1"))
    with capture_logs() as logs:
        await notify.pump(1)
    holder.close()
    assert len(hook.received) == 1
    assert "notification_not_recorded" not in [e["event"] for e in logs]
    assert [r["state"] for r in await notify.outbox("hook")] == ["delivered"]
    assert [d["status"] for d in await notify.deliveries("hook")] == ["delivered"]
