"""The dashboard's page of one service (watchd.api.dashboard's sign-in and headers apply):

    GET /services/{name}  its objective and availability rule, its availability this month
                          (as the front page shows it), its availability per local day over
                          the last DAYS days as bars (the status page's figures and colours),
                          and each member check's mean latency per day as an SVG line chart

Days are local days of `[daemon] timezone`. The chart is drawn here (no script: the dashboard's
Content-Security-Policy runs none but its own); a check with no latency on any day says "no
data" instead of an empty chart. A name that is not a configured service is a 404 page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from watchd.api.auth import public
from watchd.api.dashboard import DASHBOARD, _guard, _page, service_month
from watchd.api.status import day_level
from watchd.report.maintenance import DailyPoint, daily_points
from watchd.report.status import history, recent_days
from watchd.store.series import series_ids

DAYS = 30
# The chart's viewBox, stretched by CSS to the page's width; PAD keeps the first and last
# days' dots and the extremes inside it.
WIDTH, HEIGHT, PAD = 300.0, 100.0, 4.0


@dataclass(frozen=True, slots=True)
class LatencyChart:
    """One member check's chart: its polyline's points in viewBox units (one per day with a
    mean latency), each point's place, day and latency in ms, and the y axis' top in ms (the
    bottom is 0)."""

    points: str
    dots: list[tuple[float, float, str, float]]  # x, y, date, ms
    top_ms: float


def latency_chart(days: Sequence[str], points: Sequence[DailyPoint]) -> LatencyChart | None:
    """The chart of `points` (watchd.report.maintenance.daily_points of one check) over
    `days` (ISO dates, oldest first), or None when no day has a latency."""
    known = [(n, s * 1000.0) for n, s, _ in points if s is not None]
    if not known:
        return None
    top = max(ms for _, ms in known) * 1.1 or 1.0  # headroom above the highest day
    step = (WIDTH - 2 * PAD) / max(1, len(days) - 1)
    dots = [
        (round(PAD + n * step, 2), round(PAD + (HEIGHT - 2 * PAD) * (1 - ms / top), 2), days[n], ms)
        for n, ms in known
    ]
    return LatencyChart(points=" ".join(f"{x},{y}" for x, y, _, _ in dots), dots=dots, top_ms=top)


@public  # the page guard asks for the dashboard session, as every page does
async def service(request: web.Request) -> web.Response:
    """One configured service's overview, or a 404 page naming the unknown name."""
    if (denied := await _guard(request)) is not None:
        return denied
    source = request.app[DASHBOARD].reports
    catalog = source.catalog()
    name = request.match_info["name"]
    found = catalog.service(name)
    if found is None:
        return _page(request, "service.html", 404, service=None, name=name)
    async with source.engine.connect() as conn:
        month = await service_month(conn, source, found, list(await series_ids(conn)))
        recent = await recent_days(conn, catalog, [found], days=DAYS, now=source.clock.now())
    shown = history(catalog, found, recent)
    dates = [d.date for d in shown.days]
    members = recent.members[found.name]
    charts: list[tuple[str, LatencyChart | None]] = [
        (f"{k[0]}/{k[1]}", latency_chart(dates, points))
        for k, points in daily_points(recent.days, members).items()
    ]
    bars: list[tuple[str, float | None, str]] = [
        (d.date, d.availability_percent, day_level(d.availability_percent, found.objective))
        for d in shown.days
    ]
    context: dict[str, Any] = {
        "service": found,
        "month": month,
        "bars": bars,
        "days": DAYS,
        "period_percent": shown.availability_percent,
        "charts": charts,
        "first_day": dates[0] if dates else None,
        "last_day": dates[-1] if dates else None,
        "timezone": catalog.timezone,
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
    }
    return _page(request, "service.html", **context)


def add_routes(app: web.Application) -> None:
    """Add the service pages to an app that has the dashboard (after it)."""
    app.router.add_get("/services/{name}", service)
