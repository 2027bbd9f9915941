"""Tests for GET /api/v1/items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

pytestmark = pytest.mark.integration


async def test_items_lists_what_the_items_callable_returns(
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    http: aiohttp.ClientSession,
    auth: dict[str, dict[str, str]],
    items: list[dict[str, Any]],
) -> None:
    """A read token gets {"items": [...]} exactly as the composition root describes them."""
    base = await serve(make_app())
    async with http.get(f"{base}/api/v1/items", headers=auth["read"]) as resp:
        assert resp.status == 200
        assert await resp.json() == {"items": items}
