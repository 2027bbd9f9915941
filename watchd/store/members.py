"""`column IN (many values)` as ONE bound parameter, for the two dialects watchd supports.

SQLAlchemy's `in_()` renders a placeholder per value at every execution: for the hundreds of
fingerprints of an ingestion batch that rendering cost more than the query. Here the values
travel as one JSON array (SQLite, read by json_each) or one array (PostgreSQL, `= ANY`), so a
statement is built and compiled once, and any number of values fits.

It also keeps memory bounded: each length of an `in_()` list is another SQL text, which SQLite
prepares and keeps in the connection's statement cache (128 statements, each the size of its
list). Lists whose length follows the load (open incidents, rows in flight) filled every
pooled connection's cache with ever larger statements: ~70 MB of the soak's RSS after 20
minutes, still growing (bench/README.md, "Soak").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from watchd.store.json_text import dumps

T = TypeVar("T", str, int)  # text keys (fingerprints, group keys) or row ids


def one_of(dialect: str, column: ColumnElement[T], name: str) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (pass them through `bound_values`)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    if dialect == "sqlite":
        each = func.json_each(bindparam(name, type_=String())).table_valued("value")
        return column.in_(select(each.c.value))
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")


def bound_values(dialect: str, values: Iterable[T]) -> str | list[T]:
    """`values` as the parameter a `one_of` condition of `dialect` takes.

    On SQLite, JSON text from pydantic-core's encoder: an ingestion batch's 800 fingerprints
    took json.dumps 0.84 ms and take it 0.03 ms, several times per batch."""
    return list(values) if dialect == "postgresql" else dumps(list(values))
