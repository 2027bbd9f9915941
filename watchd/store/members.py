"""`column IN (many values)` as ONE bound parameter, for the two dialects watchd supports.

SQLAlchemy's `in_()` renders a placeholder per value at every execution: for the hundreds of
fingerprints of an ingestion batch that rendering cost more than the query. Here the values
travel as one JSON array (SQLite, read by json_each) or one array (PostgreSQL, `= ANY`), so a
statement is built and compiled once, and any number of values fits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(dialect: str, column: ColumnElement[str], name: str) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (pass them through `bound_values`)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String())))
    if dialect == "sqlite":
        each = func.json_each(bindparam(name, type_=String())).table_valued("value")
        return column.in_(select(each.c.value))
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")


def bound_values(dialect: str, values: Sequence[str]) -> str | list[str]:
    """`values` as the parameter a `one_of` condition of `dialect` takes."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))
