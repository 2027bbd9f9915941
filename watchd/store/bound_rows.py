"""A table of rows bound as ONE parameter per column, for set-wise UPDATE ... FROM statements on
the two dialects watchd supports: one SQL text (and one prepared statement) for any number of
rows, as watchd.store.members does for lists of values.

On SQLite the rows travel as one JSON array of arrays, read by json_each; on PostgreSQL as one
array per column, unnested. A statement per row (executemany) is what this replaces: a batch
of delivery outcomes wrote each outbox row and each incident's seq with a statement of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import FromClause, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine

from watchd.store.json_text import dumps

Columns = Sequence[tuple[str, TypeEngine[Any]]]


def bound_table(dialect: str, name: str, columns: Columns) -> FromClause:
    """The rows bound as `name` (pass them through `bound_rows`) as a table named `name` with
    `columns` (name, type), to join in an UPDATE's WHERE clause."""
    if dialect == "postgresql":
        arrays = [bindparam(f"{name}_{col}", type_=ARRAY(type_)) for col, type_ in columns]
        unnested = func.unnest(*arrays).table_valued(*(col for col, _ in columns))
        return unnested.render_derived(name=name)
    if dialect == "sqlite":
        each = func.json_each(bindparam(name, type_=String())).table_valued("value")
        picked = [
            func.json_extract(each.c.value, f"$[{i}]").label(col)
            for i, (col, _) in enumerate(columns)
        ]
        return select(*picked).subquery(name)
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")


def bound_rows(
    dialect: str, name: str, columns: Columns, rows: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """The parameters that bind `rows` (values in the order of `columns`) as `name`.

    On SQLite, JSON text from pydantic-core's encoder, as store.members binds its lists: a
    storm's batch of delivery outcomes is bound this way at every commit of the recorder."""
    if dialect == "postgresql":
        return {f"{name}_{col}": [row[i] for row in rows] for i, (col, _) in enumerate(columns)}
    return {name: dumps([list(row) for row in rows])}
