"""Many rows written by one INSERT, without SQLAlchemy's work per row.

Given a list of rows, SQLAlchemy builds each row's parameters anew at every execution (its
compiled form's `construct_params`, then the type processors), about as much CPU as SQLite
spends inserting the row. An alert storm writes tens of thousands of rows in a few
statements (its incidents, members, timeline events, outbox rows and the alerts themselves),
so here the statement is compiled once per table, column set and dialect, and each row becomes
a tuple in the statement's parameter order, with the same type processors applied (JSON
columns through the engine's serializer), handed to the driver's executemany as SQLAlchemy
itself would. Cursor listeners (`before_cursor_execute`) see the statement as SQL text, and
no `after_execute` listener sees it (exec_driver_sql fires none): `inserted_into` names the
table such a text inserts into (the dispatcher's wake-up looks for the outbox's,
watchd.notify.wakeup).

On PostgreSQL a plain insert goes as one statement whatever the number of rows, its values
one array per column (`INSERT ... SELECT * FROM unnest($1::BIGINT[], ...)`): asyncpg's
executemany has the server execute the statement once per row, and in a storm on PostgreSQL
those executions (25,000 timeline events, 10,000 members, 5,000 incidents and deliveries)
were the largest share of the statements' time (bench/README.md, issue 13). An upsert
(`statement`) stays one execution per row: one INSERT may not update a row twice, and two
rows of a batch can name the same key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import TableClause

# The SQL text of each statement insert_rows has sent, with the table it inserts into: one per
# table and column set, a few dozen in all.
_INSERTED_INTO: dict[str, TableClause] = {}


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    columns: tuple[str, ...]  # in the statement's parameter order
    # A row's values as a tuple in that order, picked in C: a comprehension per row was a
    # third of this function's CPU in a storm (a dozen rows per new incident).
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, type processor)
    by_column: bool  # `sql` takes one array per column (PostgreSQL), not one row per execution


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    statement: Insert | None = None,
) -> None:
    """Insert `rows` (every row with the same keys, column names of `table`) in one executemany.

    `statement` is an insert into `table` to use instead of the plain one (an upsert built once
    by the caller); its bound values must be the rows' keys.
    """
    if not rows:
        return
    plan = _plan(
        statement if statement is not None else _plain(table), tuple(rows[0]), conn.dialect
    )
    width = len(plan.columns)
    for row in rows:
        if len(row) != width:  # a missing key raises KeyError below
            raise ValueError(f"{table.name}: rows with different columns: {sorted(row)}")
    if plan.by_column:
        arrays = [[row[name] for row in rows] for name in plan.columns]
        for position, process in plan.processors:
            arrays[position] = [process(value) for value in arrays[position]]
        await conn.exec_driver_sql(plan.sql, tuple(arrays))
        return
    pick, processors = plan.pick, plan.processors
    params = []
    for row in rows:
        values = pick(row)
        if processors:
            changed = list(values)
            for position, process in processors:
                changed[position] = process(changed[position])
            values = tuple(changed)
        params.append(values)
    await conn.exec_driver_sql(plan.sql, params)


def inserted_into(sql: str) -> TableClause | None:
    """The table that `sql`, a statement insert_rows sent, inserts into; None for other SQL."""
    return _INSERTED_INTO.get(sql)


@lru_cache(maxsize=64)
def _plain(table: Table) -> Insert:
    return insert(table)


@lru_cache(maxsize=64)
def _plan(statement: Insert, keys: tuple[str, ...], dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    order = compiled.positiontup
    if order is None:  # watchd's dialects (qmark, numeric_dollar) are all positional
        raise ValueError(f"{dialect.name}: insert_rows needs a positional paramstyle")
    table = statement.table
    processors = []
    for position, name in enumerate(order):
        kind = table.c[name].type.dialect_impl(dialect)
        process = kind.bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    sql = compiled.string
    casts = _CAST.findall(sql)
    by_column = (
        dialect.name == "postgresql" and statement is _plain(table) and len(casts) == len(order)
    )
    if by_column:
        sql = _unnest_insert(table, order, casts, dialect)
    _INSERTED_INTO[sql] = table
    return _Plan(sql, tuple(order), _picker(tuple(order)), tuple(processors), by_column)


# The casts SQLAlchemy puts on an insert's parameters on PostgreSQL ("$3::VARCHAR"), in order.
_CAST = re.compile(r"\$\d+::(\w+(?: \w+)*)")


def _unnest_insert(
    table: TableClause, columns: Sequence[str], casts: Sequence[str], dialect: Dialect
) -> str:
    """`INSERT INTO table (columns) SELECT * FROM unnest($1::TYPE[], ...)`: the rows as one
    array per column, in `columns` order, each array of the type SQLAlchemy casts that
    column's parameter to. (Not the column's own type: an explicit cast to VARCHAR(16) cuts
    a longer text short, where the insert of it into the column is refused, as it was.)"""
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(name) for name in columns)
    arrays = ", ".join(f"${i}::{cast}[]" for i, cast in enumerate(casts, start=1))
    return f"INSERT INTO {quote.format_table(table)} ({names}) SELECT * FROM unnest({arrays})"


def _picker(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values for `columns` as a tuple (itemgetter gives a bare value for one)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return itemgetter(*columns)
