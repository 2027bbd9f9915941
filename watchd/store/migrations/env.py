"""Alembic environment: runs migrations on the connection that watchd.store.migrate passes in.

There is no offline (SQL script) mode and no URL here: the caller owns the engine, so the
same code path serves `watchd db upgrade`, the daemon's start-up and the tests.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from watchd.store.tables import metadata

# Nodes sharing one PostgreSQL database may start together; one migrates, the others wait.
_PG_MIGRATION_LOCK = 0x77617463  # "watc"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "watchd migrations run through watchd.store.migrate (or `watchd db upgrade`), "
        "which passes a connection; offline mode is not supported."
    )
_run(_connection)
