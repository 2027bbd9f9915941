"""Run the Alembic migrations shipped in watchd/store/migrations, configured in code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.store.engine import create_engine, store_errors

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini involved)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade_engine(engine: AsyncEngine) -> None:
    """Bring the database behind `engine` to the newest schema; a no-op when it is current."""
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    with store_errors("upgrade the database schema"):
        async with engine.begin() as conn:
            await conn.run_sync(run)


async def upgrade(url: str) -> None:
    """`watchd db upgrade`: migrate the database at `url` to the newest schema, idempotently."""
    engine = create_engine(url)
    try:
        await upgrade_engine(engine)
    finally:
        await engine.dispose()
