"""Fixtures for the API tests: the app served by start_api on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from watchd.api import create_app, start_api
from watchd.metrics import Metrics

TOKENS = {
    "read-token-5f1c": frozenset({"read"}),
    "write-token-77aa": frozenset({"read", "write"}),
    "ingest-token-c0de": frozenset({"ingest"}),
}
# The configured names of TOKENS (every [[api.tokens]] entry has one).
TOKEN_NAMES = {
    "read-token-5f1c": "ops-read",
    "write-token-77aa": "ops-dashboard",
    "ingest-token-c0de": "collector",
}


@pytest.fixture
def auth() -> dict[str, dict[str, str]]:
    """Authorization headers by name: "read", "write" (read+write), "ingest", "wrong"."""
    names = dict(zip(("read", "write", "ingest"), TOKENS, strict=True))
    names["wrong"] = "not-a-configured-token"
    return {name: {"Authorization": f"Bearer {token}"} for name, token in names.items()}


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return [{"name": "web1", "address": "127.0.0.1", "labels": {"role": "web"}}]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def ready() -> asyncio.Event:
    """Readiness as the composition root would report it; set (ready) unless a test clears it."""
    event = asyncio.Event()
    event.set()
    return event


@pytest.fixture
def make_app(
    metrics: Metrics, ready: asyncio.Event, items: list[dict[str, Any]]
) -> Callable[..., web.Application]:
    """create_app with the test tokens (or `tokens=`) and the fixtures' metrics/items/ready."""

    def make(tokens: dict[str, frozenset[str]] | None = None, **kwargs: Any) -> web.Application:
        return create_app(
            tokens=TOKENS if tokens is None else tokens,
            metrics=metrics,
            items=lambda: items,
            ready=ready.is_set,
            **kwargs,
        )

    return make


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start apps with start_api on 127.0.0.1 and a kernel-chosen port; returns the base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = await start_api(app, "127.0.0.1", 0)
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session
