"""Persisted JSON state by namespace and key (check states, rule states) that survives restarts."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.tables import states as t
from watchd.store.upsert import upsert

# Keys per IN (...) list: well under the bind parameter limits of both databases.
SELECT_CHUNK = 1_000


async def upsert_states(
    conn: AsyncConnection,
    namespace: str,
    items: Mapping[str, dict[str, Any]],
    now: float,
    check_keys: Mapping[str, str] | None = None,
) -> None:
    """Insert or replace each key's state in `namespace` (the caller owns the transaction),
    with the check each belongs to from `check_keys` (none for keys it lacks)."""
    if not items:
        return
    stmt = upsert(conn.dialect.name, t, ("namespace", "key"), ("data", "updated_at", "check_key"))
    of = check_keys or {}
    rows = [
        {
            "namespace": namespace,
            "key": key,
            "data": data,
            "updated_at": now,
            "check_key": of.get(key),
        }
        for key, data in sorted(items.items())  # rows are locked in this order: always the same
    ]
    await conn.execute(stmt, rows)


async def select_states(conn: AsyncConnection, namespace: str) -> dict[str, dict[str, Any]]:
    """Every stored state in `namespace`, by key."""
    result = await conn.execute(select(t.c.key, t.c.data).where(t.c.namespace == namespace))
    return {key: data for key, data in result}


async def select_states_of(
    conn: AsyncConnection, namespace: str, check_keys: Collection[str]
) -> dict[str, dict[str, Any]]:
    """The states in `namespace` that belong to the checks `check_keys` ("item/check"), by key."""
    wanted = sorted(check_keys)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), SELECT_CHUNK):
        chunk = wanted[start : start + SELECT_CHUNK]
        query = select(t.c.key, t.c.data).where(
            t.c.namespace == namespace, t.c.check_key.in_(chunk)
        )
        found.update({key: data for key, data in await conn.execute(query)})
    return found


async def delete_state(conn: AsyncConnection, namespace: str, key: str) -> None:
    """Forget one key's state; forgetting an unknown key is not an error."""
    await conn.execute(delete(t).where(t.c.namespace == namespace, t.c.key == key))
