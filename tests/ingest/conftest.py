"""Fixtures for the ingestion tests: a real Store on a temporary SQLite file and its sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pipeline.conftest import db_url, harness  # noqa: F401  (fixtures: the journal's tests)
from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)
from tests.storing_sink import StoringSink
from watchd.clock import FakeClock
from watchd.store import Store


@pytest.fixture
def clock() -> FakeClock:
    """Wall time 2027-01-15T08:00:00Z (epoch 1_800_000_000), moved only by the test."""
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
def sink(store: Store) -> StoringSink:
    """The pipeline's current AlertSink: it commits alerts to the store before returning."""
    return StoringSink(store)
