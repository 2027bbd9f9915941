"""INSERT ... ON CONFLICT DO UPDATE for the two dialects watchd supports."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def upsert(
    dialect: str,
    table: Table,
    keys: Sequence[str],
    update: Sequence[str],
    *,
    where: ColumnElement[bool] | None = None,
) -> Insert:
    """An insert into `table` that, on a clash of `keys`, updates the `update` columns instead.

    Columns not named in `update` keep their stored value (e.g. an alert's first_seen). With
    `where` (on the stored row), a clashing row that does not match it stays as it is.
    """
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: lite.excluded[name] for name in update},
            where=where,
        )
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: pg.excluded[name] for name in update},
            where=where,
        )
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")


def insert_missing(dialect: str, table: Table, keys: Sequence[str]) -> Insert:
    """An insert into `table` that does nothing when a row with the same `keys` exists."""
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")
