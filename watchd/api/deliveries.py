"""The delivery log over HTTP: every notification attempt, newest first.

GET /api/v1/deliveries?incident=&receiver=&status=&limit=&offset=     read  (watchd.api.pages)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.api.auth import require_scope
from watchd.api.inputs import query_int
from watchd.api.pages import page_of, paged
from watchd.store.engine import reading
from watchd.store.notify_tables import deliveries as dl
from watchd.store.pages import FIRST_PAGE, Listed, Page, count, sliced

ENGINE = web.AppKey("watchd.deliveries.engine", AsyncEngine)


async def list_deliveries(
    engine: AsyncEngine,
    *,
    incident: int | None = None,
    receiver: str | None = None,
    status: str | None = None,
    page: Page = FIRST_PAGE,
) -> Listed[dict[str, Any]]:
    """One page of the delivery attempts, newest first, filtered by incident, receiver and
    status, and how many match."""
    query = select(dl)
    if incident is not None:
        query = query.where(dl.c.incident_id == incident)
    if receiver:
        query = query.where(dl.c.receiver == receiver)
    if status:
        query = query.where(dl.c.status.in_(status.split(",")))
    async with reading(engine, "list deliveries", full_reason=True) as conn:
        query = query.order_by(dl.c.id.desc())
        rows = await conn.execute(sliced(query, page))
        return Listed([dict(r._mapping) for r in rows], await count(conn, query))


@require_scope("read")
async def deliveries(request: web.Request) -> web.Response:
    page = page_of(request)
    found = await list_deliveries(
        request.app[ENGINE],
        incident=query_int(request, "incident", None),
        receiver=request.query.get("receiver"),
        status=request.query.get("status"),
        page=page,
    )
    return paged(request, "deliveries", found, page)


def add_routes(app: web.Application, engine: AsyncEngine) -> None:
    app[ENGINE] = engine
    app.router.add_get("/api/v1/deliveries", deliveries)
