"""The configuration items watchd monitors, as JSON."""

from __future__ import annotations

from aiohttp import web

from watchd.api import keys
from watchd.api.auth import require_scope
from watchd.api.errors import json_response


@require_scope("read")
async def list_items(request: web.Request) -> web.Response:
    """`{"items": [...]}`: every configured item as the composition root describes it."""
    return json_response({"items": request.app[keys.ITEMS]()})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/items", list_items)
