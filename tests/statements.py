"""Counting what a test's store runs: the SQL statement texts, as they are sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


def recorded_statements(engine: AsyncEngine) -> list[str]:
    """The SQL statements `engine` runs from now on (the list grows)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return seen
