"""Fixtures shared by the real-daemon tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.store.conftest import pg_create_database, pg_drop_database


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, dropped after the test."""
    url = pg_create_database()
    yield url
    pg_drop_database(url)
