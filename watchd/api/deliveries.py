"""The delivery log over HTTP: every notification attempt, newest first.

GET /api/v1/deliveries?incident=&receiver=&status=&limit=     read
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.api.auth import require_scope
from watchd.api.errors import json_response
from watchd.api.inputs import query_int
from watchd.store.engine import reading
from watchd.store.notify_tables import deliveries as dl

ENGINE = web.AppKey("watchd.deliveries.engine", AsyncEngine)
MAX_LIMIT = 1000


async def list_deliveries(
    engine: AsyncEngine,
    *,
    incident: int | None = None,
    receiver: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Delivery attempts, newest first, filtered by incident, receiver and status."""
    query = select(dl)
    if incident is not None:
        query = query.where(dl.c.incident_id == incident)
    if receiver:
        query = query.where(dl.c.receiver == receiver)
    if status:
        query = query.where(dl.c.status.in_(status.split(",")))
    async with reading(engine, "list deliveries", full_reason=True) as conn:
        rows = await conn.execute(query.order_by(dl.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


@require_scope("read")
async def deliveries(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 200) or 200
    found = await list_deliveries(
        request.app[ENGINE],
        incident=query_int(request, "incident", None),
        receiver=request.query.get("receiver"),
        status=request.query.get("status"),
        limit=min(limit, MAX_LIMIT),
    )
    return json_response({"deliveries": found})


def add_routes(app: web.Application, engine: AsyncEngine) -> None:
    app[ENGINE] = engine
    app.router.add_get("/api/v1/deliveries", deliveries)
