"""Wake the dispatcher when a transaction that wrote outbox rows has committed.

The incident core writes outbox rows in its own transactions; rather than polling, the
dispatcher listens on the engine: an INSERT into the outbox (SQLAlchemy's, or the text of
watchd.store.bulk's) marks the connection, a rollback clears the mark, and the connection's
return to the pool (after its commit) fires the wake-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert

from watchd.store.bulk import inserted_into
from watchd.store.incident_tables import outbox

_MARK = "watchd.outbox_written"


def watch_outbox(engine: AsyncEngine, wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` after every committed transaction that inserted outbox rows; returns the
    function that stops watching."""
    sync = engine.sync_engine

    def after_cursor_execute(
        conn: Any, _cursor: Any, sql: str, _params: Any, context: Any, _many: bool
    ) -> None:
        # A cursor event: watchd.store.bulk's inserts (exec_driver_sql) fire no after_execute.
        compiled = context.compiled if context is not None else None
        clause = compiled.statement if compiled is not None else None
        table = clause.table if isinstance(clause, Insert) else inserted_into(sql)
        if table is outbox:
            conn.info[_MARK] = True

    def rollback(conn: Any) -> None:
        # An invalidated connection (a statement was cancelled or the database went away)
        # has no info to clear: its replacement starts with a fresh one. Asking for it
        # raised "Can't reconnect until invalid transaction is rolled back" from inside
        # the rollback, in place of the cancellation, and a loop that retries store
        # errors then never stopped.
        if not conn.invalidated:
            conn.info.pop(_MARK, None)

    def checkin(_dbapi: Any, record: Any) -> None:
        if record is not None and record.info.pop(_MARK, False):
            wake()

    event.listen(sync, "after_cursor_execute", after_cursor_execute)
    event.listen(sync, "rollback", rollback)
    event.listen(sync, "checkin", checkin)

    def stop() -> None:
        event.remove(sync, "after_cursor_execute", after_cursor_execute)
        event.remove(sync, "rollback", rollback)
        event.remove(sync, "checkin", checkin)

    return stop
