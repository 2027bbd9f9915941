"""`column IN (many values)` as ONE bound parameter, for the two dialects watchd supports.

SQLAlchemy's `in_()` renders a placeholder per value at every execution: for the hundreds of
fingerprints of an ingestion batch that rendering cost more than the query. Here the values
travel as one JSON array (SQLite, read by json_each) or one array (PostgreSQL, `= ANY`), so
the statement is compiled once and cached, and any number of values fits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import ColumnElement, String, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(dialect: str, column: ColumnElement[str], values: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `values` (text), as a condition for a WHERE clause."""
    if dialect == "postgresql":
        return column == any_(literal(list(values), ARRAY(String())))
    if dialect == "sqlite":
        each = func.json_each(literal(json.dumps(list(values)))).table_valued("value")
        return column.in_(select(each.c.value))
    raise ValueError(f"watchd's store supports sqlite and postgresql, not {dialect}")
