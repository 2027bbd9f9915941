"""Persisted JSON state by namespace and key (check states, rule states) that survives restarts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.tables import states as t
from watchd.store.upsert import upsert


async def upsert_states(
    conn: AsyncConnection, namespace: str, items: Mapping[str, dict[str, Any]], now: float
) -> None:
    """Insert or replace each key's state in `namespace` (the caller owns the transaction)."""
    if not items:
        return
    stmt = upsert(conn.dialect.name, t, ("namespace", "key"), ("data", "updated_at"))
    rows = [
        {"namespace": namespace, "key": key, "data": data, "updated_at": now}
        for key, data in sorted(items.items())  # rows are locked in this order: always the same
    ]
    await conn.execute(stmt, rows)


async def select_states(conn: AsyncConnection, namespace: str) -> dict[str, dict[str, Any]]:
    """Every stored state in `namespace`, by key."""
    result = await conn.execute(select(t.c.key, t.c.data).where(t.c.namespace == namespace))
    return {key: data for key, data in result}


async def delete_state(conn: AsyncConnection, namespace: str, key: str) -> None:
    """Forget one key's state; forgetting an unknown key is not an error."""
    await conn.execute(delete(t).where(t.c.namespace == namespace, t.c.key == key))
