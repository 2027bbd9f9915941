"""Compact samples: keyed by (time, series id), message only for runs that were not OK.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

The old table carried item and check as strings on every row plus two indexes (92 bytes a
sample); the new one refers to rollup_series and is its own index on SQLite (WITHOUT ROWID).
Existing samples are copied over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _create_compact(name: str) -> None:
    op.create_table(
        name,
        sa.Column("time", sa.Double(), primary_key=True),
        sa.Column("series_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    ignore = "OR IGNORE " if op.get_bind().dialect.name == "sqlite" else ""
    conflict = "" if ignore else " ON CONFLICT DO NOTHING"
    _create_compact("samples_compact")
    op.execute(
        f'INSERT {ignore}INTO rollup_series (item, "check") '
        f'SELECT DISTINCT item, "check" FROM samples{conflict}'
    )
    op.execute(
        f"INSERT {ignore}INTO samples_compact (time, series_id, status, latency, message) "
        "SELECT s.time, r.id, s.status, s.latency, "
        "CASE WHEN s.status <> 0 AND s.message <> '' THEN s.message END "
        'FROM samples s JOIN rollup_series r ON r.item = s.item AND r."check" = s."check"'
        f"{conflict}"
    )
    op.drop_table("samples")
    op.rename_table("samples_compact", "samples")


def downgrade() -> None:
    op.create_table(
        "samples_wide",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("item", sa.String(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
    )
    op.execute(
        'INSERT INTO samples_wide (item, "check", time, status, latency, message) '
        "SELECT r.item, r.\"check\", s.time, s.status, s.latency, COALESCE(s.message, '') "
        "FROM samples s JOIN rollup_series r ON r.id = s.series_id ORDER BY s.time"
    )
    op.drop_table("samples")
    op.rename_table("samples_wide", "samples")
    op.create_index("ix_samples_item_check_time", "samples", ["item", "check", "time"])
    op.create_index("ix_samples_time", "samples", ["time"])
