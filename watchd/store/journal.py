"""The ingest journal: alerts accepted over HTTP, kept durably until the pipeline has them.

In an alert storm the HTTP ingestion answers a request once its alerts are in this table (one
row per group of requests committed together) and the pipeline takes them in behind it, in
order (watchd.ingest.journal). A row is deleted once the pipeline has committed its alerts;
rows left by a process that stopped or was killed are taken in again at the next start.

Each row holds its alerts as JSON text, an array of arrays in Alert's field order:
`[labels, status, starts_at, annotations, ends_at, source, generator_url]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Integer,
    String,
    Table,
    Text,
    delete,
    select,
)
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.logging import get_logger
from watchd.model import Alert, AlertStatus
from watchd.store.json_text import dumps, loads
from watchd.store.tables import metadata

log = get_logger("watchd.store")

ingest_journal = Table(
    "ingest_journal",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    # The cluster node that accepted the alerts and takes them in; "" on SQLite (one node).
    Column("node", String(), nullable=False),
    Column("received_at", Double(), nullable=False),
    Column("count", Integer(), nullable=False),
    Column("alerts", Text(), nullable=False),
)


@dataclass(frozen=True)
class Entry:
    """One journal row: its alerts in the order they were accepted."""

    seq: int
    received_at: float
    alerts: tuple[Alert, ...]


def encode_alerts(alerts: Sequence[Alert]) -> str:
    """`alerts` as the journal's JSON text (see the module doc)."""
    return dumps(
        [
            [
                a.labels,
                a.status.value,
                a.starts_at,
                a.annotations,
                a.ends_at,
                a.source,
                a.generator_url,
            ]
            for a in alerts
        ]
    )


def decode_alerts(text: str) -> tuple[Alert, ...]:
    """The alerts `encode_alerts` wrote."""
    return tuple(
        Alert(labels, AlertStatus(status), starts, annotations, ends, source, url)
        for labels, status, starts, annotations, ends, source, url in loads(text)
    )


async def append(
    conn: AsyncConnection, node: str, received_at: float, alerts: Sequence[Alert]
) -> int:
    """Add a row holding `alerts`; its seq (rows are taken in by ascending seq)."""
    result = await conn.execute(
        ingest_journal.insert()
        .values(node=node, received_at=received_at, count=len(alerts), alerts=encode_alerts(alerts))
        .returning(ingest_journal.c.seq)
    )
    seq: int = result.scalar_one()
    return seq


async def remove(conn: AsyncConnection, seqs: Sequence[int]) -> None:
    """Delete the rows whose alerts the pipeline has committed."""
    if seqs:
        await conn.execute(delete(ingest_journal).where(ingest_journal.c.seq.in_(seqs)))


async def owned(conn: AsyncConnection, node: str, seqs: Sequence[int]) -> set[int]:
    """Which of the rows `seqs` are still `node`'s (not taken over, not deleted)."""
    c = ingest_journal.c
    rows = await conn.execute(select(c.seq).where(c.seq.in_(seqs), c.node == node))
    return {seq for (seq,) in rows}


async def entries(conn: AsyncConnection, node: str | None) -> list[Entry]:
    """The rows of `node` (every row if None), by seq; see `_readable`."""
    c = ingest_journal.c
    query = select(c.seq, c.received_at, c.alerts).order_by(c.seq)
    if node is not None:
        query = query.where(c.node == node)
    return _readable(await conn.execute(query))


async def adopt(conn: AsyncConnection, me: str, live: Sequence[str]) -> list[Entry]:
    """Take over the rows of nodes not in `live` (they stopped or died before taking their
    alerts in); the rows taken, by seq. Two nodes adopting at once each get distinct rows."""
    c = ingest_journal.c
    rows = await conn.execute(
        sa_update(ingest_journal)
        .where(c.node.not_in([*live, me]))
        .values(node=me)
        .returning(c.seq, c.received_at, c.alerts)
    )
    return sorted(_readable(rows), key=lambda e: e.seq)


def _readable(rows: Iterable[Any]) -> list[Entry]:
    """The rows as entries. A row whose alerts cannot be read (edited by hand, written by a
    newer watchd) is logged and left in the table, never dropped, and does not stop the rest."""
    found: list[Entry] = []
    for seq, received_at, text in rows:
        try:
            found.append(Entry(seq, received_at, decode_alerts(text)))
        except (ValueError, TypeError, KeyError) as exc:
            log.error(
                "ingest_journal_row_unreadable",
                seq=seq,
                error=f"{type(exc).__name__}: {exc}",
                note="left in ingest_journal, not taken in",
            )
    return found
