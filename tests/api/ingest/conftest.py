"""Fixtures for the HTTP ingestion routes: watchd's API with tokens, on a real Store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.ingest import conftest as ingest
from tests.storing_sink import StoringSink
from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.clock import FakeClock
from watchd.metrics import Metrics

# The ingestion fixtures (a real Store, its sink, a fake clock), shared with the MQTT tests.
clock = ingest.clock
store = ingest.store
sink = ingest.sink

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
