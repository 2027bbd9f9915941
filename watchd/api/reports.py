"""Reports over HTTP: the same data as `watchd report`.

    GET /api/v1/reports/availability?period=YYYY-MM | from=&to= [&service=] [&format=json|csv|text]
    GET /api/v1/reports/html?...          one self-contained HTML file with charts

Both need the "read" scope. Without a period, the current month (UTC).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.api.auth import require_scope
from watchd.api.errors import ApiError, json_response
from watchd.clock import Clock
from watchd.report.build import Period, PeriodError, build_report
from watchd.report.catalog import Catalog
from watchd.report.charts import ChartsUnavailable
from watchd.report.render import render, render_html


@dataclass(frozen=True, slots=True)
class ReportSource:
    """What report handlers read: the store's engine, the catalog (current config), a clock."""

    engine: AsyncEngine
    catalog: Callable[[], Catalog]
    clock: Clock

    async def report(self, query: Any) -> dict[str, Any]:
        """The report a request's query string asks for; ApiError 400/404 for bad input."""
        now = self.clock.now()
        try:
            if query.get("from") or query.get("to"):
                period = Period.between(query.get("from", ""), query.get("to", ""))
            elif query.get("period"):
                period = Period.month(query["period"])
            else:
                period = Period.this_month(now)
        except PeriodError as exc:
            raise ApiError(400, str(exc)) from exc
        service = query.get("service") or None
        try:
            return await build_report(self.engine, self.catalog(), period, now=now, service=service)
        except KeyError as exc:
            raise ApiError(404, f"There is no service {service!r}.") from exc


SOURCE = web.AppKey("watchd.reports", ReportSource)
_TYPES = {"json": "application/json", "csv": "text/csv", "text": "text/plain"}


@require_scope("read")
async def availability(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in _TYPES:
        raise ApiError(400, f"The format must be one of json, csv, text, not {fmt!r}.")
    report = await request.app[SOURCE].report(request.query)
    if fmt == "json":
        return json_response(report)
    return web.Response(text=render(report, fmt), content_type=_TYPES[fmt], charset="utf-8")


@require_scope("read")
async def html(request: web.Request) -> web.Response:
    report = await request.app[SOURCE].report(request.query)
    try:
        # matplotlib is CPU-bound: drawing in a thread keeps the event loop answering.
        body = await asyncio.to_thread(render_html, report)
    except ChartsUnavailable as exc:
        raise ApiError(501, str(exc)) from exc
    return web.Response(text=body, content_type="text/html", charset="utf-8")


def add_routes(app: web.Application, source: ReportSource) -> None:
    """Add the report routes to an app from watchd.api.create_app."""
    app[SOURCE] = source
    app.router.add_get("/api/v1/reports/availability", availability)
    app.router.add_get("/api/v1/reports/html", html)
