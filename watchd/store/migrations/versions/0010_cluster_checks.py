"""Cluster check sharding: which node polled each sample, and which check each state is of.

`samples.node` lets anyone see that every check ran on exactly one node (NULL on a single
node, which writes none). `states.check_key` ("item/check") lets a node that takes over checks
load just their check and rule states, not every node's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("node", sa.String(), nullable=True))
    with op.batch_alter_table("states") as batch:
        batch.add_column(sa.Column("check_key", sa.String(), nullable=True))
    op.create_index("ix_states_namespace_check_key", "states", ["namespace", "check_key"])
    # A check state's key is its check; a rule series' key is [rule, sorted labels] as JSON,
    # whose item and check labels name it (a series without both belongs to no check).
    op.execute("UPDATE states SET check_key = key WHERE namespace = 'check'")
    conn = op.get_bind()
    states = sa.table("states", sa.column("namespace"), sa.column("key"), sa.column("check_key"))
    keys = conn.execute(sa.select(states.c.key).where(states.c.namespace == "rules")).scalars()
    updates = []
    for key in keys:
        try:
            labels = dict(json.loads(key)[1])
        except (ValueError, TypeError, IndexError):
            continue
        if "item" in labels and "check" in labels:
            updates.append({"k": key, "c": f"{labels['item']}/{labels['check']}"})
    if updates:
        conn.execute(
            states.update()
            .where(states.c.namespace == "rules", states.c.key == sa.bindparam("k"))
            .values(check_key=sa.bindparam("c")),
            updates,
        )


def downgrade() -> None:
    op.drop_index("ix_states_namespace_check_key", "states")
    with op.batch_alter_table("states") as batch:
        batch.drop_column("check_key")
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("node")
