"""Reports over HTTP: the same data as `watchd report`.

    GET /api/v1/reports/availability?period=YYYY-MM | from=&to= [&service=] [&format=json|csv|text]
    GET /api/v1/reports/html?...          one self-contained HTML file with charts

Both need the "read" scope. Months, days and times are in `[daemon] timezone` (from/to
without an offset too). Without a period, the current month; a period longer than
`[report] max_period` (400 days) is a 400. A report is built in a task of its own that is
cancelled when its client hangs up or the API stops, so nobody waits for a report no one reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.api.auth import require_scope
from watchd.api.errors import ApiError, json_response
from watchd.api.language import page_locale, vary_on_language
from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.report.build import build_report
from watchd.report.catalog import Catalog
from watchd.report.charts import ChartsUnavailable
from watchd.report.period import Period, PeriodError
from watchd.report.render import render, render_html

log = get_logger("watchd.api")

T = TypeVar("T")
CLIENT_CHECK = 0.25  # seconds between looks at whether a report's client is still there


@dataclass(frozen=True, slots=True)
class ReportSource:
    """What report handlers read: the store's engine, the catalog (current config), a clock;
    `running` has the report builds in flight (cancelled when the API stops)."""

    engine: AsyncEngine
    catalog: Callable[[], Catalog]
    clock: Clock
    running: set[asyncio.Task[Any]] = field(default_factory=set)

    async def while_connected(self, request: web.Request, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` in a task of its own and return its result; cancel it when the client
        of `request` hangs up (ConnectionResetError: nobody reads the answer) or when this
        handler is cancelled."""
        task = asyncio.get_running_loop().create_task(work, name="watchd.api.report")
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=CLIENT_CHECK)
                if done:
                    return task.result()
                transport = request.transport
                if transport is None or transport.is_closing():
                    log.info("report_cancelled", path=request.path, reason="client went away")
                    raise ConnectionResetError("the client went away")
        finally:
            task.cancel()

    def cancel_all(self) -> None:
        """Cancel every report being built (the API is stopping)."""
        for task in list(self.running):
            task.cancel()

    async def report(self, query: Any) -> dict[str, Any]:
        """The report a request's query string asks for; ApiError 400/404 for bad input."""
        now = self.clock.now()
        catalog = self.catalog()
        zone = catalog.timezone
        try:
            if query.get("from") or query.get("to"):
                period = Period.between(query.get("from", ""), query.get("to", ""), zone)
            elif query.get("period"):
                period = Period.month(query["period"], zone)
            else:
                period = Period.this_month(now, zone)
            period = period.bounded(catalog.report.max_period)
        except PeriodError as exc:
            raise ApiError(400, str(exc)) from exc
        service = query.get("service") or None
        try:
            return await build_report(self.engine, catalog, period, now=now, service=service)
        except KeyError as exc:
            raise ApiError(404, f"There is no service {service!r}.") from exc


SOURCE = web.AppKey("watchd.reports", ReportSource)
_TYPES = {"json": "application/json", "csv": "text/csv", "text": "text/plain"}


@require_scope("read")
async def availability(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in _TYPES:
        raise ApiError(400, f"The format must be one of json, csv, text, not {fmt!r}.")
    source = request.app[SOURCE]
    report = await source.while_connected(request, source.report(request.query))
    if fmt == "json":
        return json_response(report)
    locale = _locale(request)
    response = web.Response(
        text=render(report, fmt, locale), content_type=_TYPES[fmt], charset="utf-8"
    )
    vary_on_language(response)
    return response


def _locale(request: web.Request) -> str:
    """The language of a text or HTML report: the reader's (Accept-Language), else the
    daemon's."""
    return page_locale(request, user=None, default=request.app[SOURCE].catalog().locale)


@require_scope("read")
async def html(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    report = await source.while_connected(request, source.report(request.query))
    try:
        # matplotlib is CPU-bound: drawing in a thread keeps the event loop answering.
        body = await asyncio.to_thread(render_html, report, _locale(request))
    except ChartsUnavailable as exc:
        raise ApiError(501, str(exc)) from exc
    response = web.Response(text=body, content_type="text/html", charset="utf-8")
    vary_on_language(response)
    return response


def add_routes(app: web.Application, source: ReportSource) -> None:
    """Add the report routes to an app from watchd.api.create_app."""
    app[SOURCE] = source

    async def stopping(_: web.Application) -> None:
        source.cancel_all()

    app.on_shutdown.append(stopping)
    app.router.add_get("/api/v1/reports/availability", availability)
    app.router.add_get("/api/v1/reports/html", html)
