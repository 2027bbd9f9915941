"""Fixtures shared by several test packages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.mqtt_broker import Broker
from tests.pg_server import PrivatePostgres
from tests.store.conftest import pg_database


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running private Mosquitto (tests/mqtt_broker.py), stopped after the test."""
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A database of its own for one test on the machine's PostgreSQL, dropped after it."""
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of its own for one test, once of each kind watchd supports: a SQLite file
    that does not exist yet, then a fresh PostgreSQL database (`fresh_pg_url`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/watchd.db"
    url: str = request.getfixturevalue("fresh_pg_url")
    return url


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL of this test's own (tests/pg_server.py) with an empty database
    "watchd", free to stop, kill and restart; removed after the test."""
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database("watchd")
        yield server
    finally:
        server.cleanup()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo what `watchd.cli.main` does to logging: it points structlog and the root logger at
    this test's captured stderr, at its own levels, and later tests must not write there.
    Every test gets it: a test that runs a command in the process and forgot it left structlog
    filtering below warning for all the tests after it (their captured info lines were lost)."""
    saved = structlog.get_config()
    handlers = list(logging.getLogger().handlers)
    levels = {name: logging.getLogger(name).level for name in ("", "watchd", "collectors")}
    yield
    structlog.configure(**saved)
    logging.getLogger().handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
