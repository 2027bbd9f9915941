"""Fixtures for the ingestion tests: a real Store on a temporary SQLite file and its sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from watchd.api import create_app, start_api
from watchd.clock import FakeClock
from watchd.ingest.http import add_routes
from watchd.metrics import Metrics
from watchd.pipeline import StoringSink
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


INGEST_TOKEN = "ingest-token-0123456789"
READ_TOKEN = "read-token-0123456789ab"
TOKENS = {INGEST_TOKEN: frozenset({"ingest"}), READ_TOKEN: frozenset({"read"})}


@pytest.fixture
async def api(sink: StoringSink, clock: FakeClock) -> AsyncIterator[str]:
    """watchd's API (tokens required) with the ingestion routes on a free loopback port."""
    app = create_app(
        tokens=TOKENS, metrics=Metrics(), items=list, ready=lambda: True, max_body_bytes=1_048_576
    )
    add_routes(app, sink=sink, clock=clock, resolve_timeout=300.0)
    runner = await start_api(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that sends the ingest token unless a test overrides Authorization."""
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        yield session
