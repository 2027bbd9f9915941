"""Fixtures for the hardening suite: the real alert pipeline (SQLite and PostgreSQL) behind the
real ingestion routes, served on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.integration.test_daemon import daemon  # noqa: F401  (`watchd run` on the shipped config)
from tests.pipeline.conftest import Harness, db_url, harness  # noqa: F401  (fixtures)
from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)
from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.metrics import Metrics

INGEST_TOKEN = "ingest-token-hardening-0123"


@pytest.fixture
async def ingest_api(harness: Harness) -> AsyncIterator[str]:  # noqa: F811
    """The ingestion routes in front of the harness's AlertPipeline; the base URL."""
    app = create_app(
        tokens={INGEST_TOKEN: frozenset({"ingest"})},
        metrics=Metrics(),
        items=list,
        ready=lambda: True,
        max_body_bytes=4_194_304,
    )
    add_routes(app, sink=harness.pipeline, clock=harness.clock, resolve_timeout=300.0)
    runner = await start_api(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client sending the ingest token."""
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        yield session
