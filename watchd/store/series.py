"""Series ids: one small integer per (item, check), shared by samples and rollups."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.tables import rollup_series

Key = tuple[str, str]


async def series_ids(conn: AsyncConnection, keys: Iterable[Key] | None = None) -> dict[Key, int]:
    """Series ids by (item, check): all of them, or only `keys`, which are created if missing."""
    query = select(rollup_series.c.item, rollup_series.c.check, rollup_series.c.id)
    if keys is not None:
        wanted = set(keys)
        if not wanted:
            return {}
        rows = [{"item": item, "check": check} for item, check in wanted]
        await conn.execute(_insert_ignore(conn.dialect.name), rows)
        items = sorted({item for item, _ in wanted})
        query = query.where(rollup_series.c.item.in_(items))
        result = await conn.execute(query)
        return {(i, c): int(sid) for i, c, sid in result if (i, c) in wanted}
    result = await conn.execute(query)
    return {(item, check): int(sid) for item, check, sid in result}


def _insert_ignore(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(rollup_series).on_conflict_do_nothing()
    return sqlite.insert(rollup_series).on_conflict_do_nothing()
