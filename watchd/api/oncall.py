"""On-call schedules and their overrides over HTTP: the same answers as `watchd oncall`.

    GET    /api/v1/oncall                              read   every schedule: who now, next shifts
    GET    /api/v1/oncall/{schedule}?at=&from=&to=     read   one schedule over a range
    GET    /api/v1/oncall/{schedule}/overrides[?all=1] read   current and coming (all: past too),
                                                        paged like every /api/v1 list
    POST   /api/v1/oncall/{schedule}/overrides         write  {"user", "start", "end", "reason", "by"}
    DELETE /api/v1/oncall/{schedule}/overrides/{id}    write

Times are epoch seconds or ISO 8601; one without an offset is local to the schedule. A range is
at most 92 days (400 otherwise). The override's author is the `by` field alongside the name of
the request's token (watchd.api.auth.actor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.api.auth import actor, require_scope
from watchd.api.errors import ApiError, json_response
from watchd.api.inputs import StrictBody, model_body, path_id
from watchd.api.openapi import accepts
from watchd.api.pages import page_of, paged
from watchd.clock import Clock
from watchd.people.config import PeopleConfig, ScheduleConfig
from watchd.people.overrides import (
    MAX_AUTHOR,
    MAX_REASON,
    OverrideError,
    active_overrides,
    add_override,
    check_override,
    delete_override,
    list_overrides,
    override_dict,
)
from watchd.people.view import DEFAULT_RANGE, override_window, range_problem, schedule_view
from watchd.store import StoreError
from watchd.store.pages import Listed


@dataclass(frozen=True, slots=True)
class OncallSource:
    """What the on-call handlers read: the people of the current config, the store, a clock."""

    people: Callable[[], PeopleConfig]
    engine: AsyncEngine
    clock: Clock


SOURCE = web.AppKey("watchd.oncall", OncallSource)


class OverrideBody(StrictBody):
    user: str = Field(min_length=1, max_length=200)
    start: float | datetime
    end: float | datetime
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    by: str | None = Field(default=None, min_length=1, max_length=MAX_AUTHOR)


def _epoch(value: float | datetime, zone: ZoneInfo) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()
    return float(value)


def _query_time(request: web.Request, name: str, zone: ZoneInfo, default: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        try:
            value = _epoch(datetime.fromisoformat(raw), zone)
        except ValueError:
            raise ApiError(
                400, f"The query parameter {name!r} must be epoch seconds or an ISO time."
            ) from None
    return value


def _schedule(request: web.Request) -> tuple[PeopleConfig, ScheduleConfig]:
    people = request.app[SOURCE].people()
    name = request.match_info["schedule"]
    found = people.schedule(name)
    if found is None:
        raise ApiError(404, f"There is no schedule {name!r}.")
    return people, found


async def _view(
    request: web.Request, people: PeopleConfig, schedules: list[ScheduleConfig]
) -> list[dict[str, object]]:
    source = request.app[SOURCE]
    now = source.clock.now()
    zone = ZoneInfo(schedules[0].timezone) if len(schedules) == 1 else ZoneInfo("UTC")
    at = _query_time(request, "at", zone, now)
    start = _query_time(request, "from", zone, at)
    end = _query_time(request, "to", zone, start + DEFAULT_RANGE)
    if (problem := range_problem(at, start, end)) is not None:
        raise ApiError(400, f"The query parameter {problem[0]!r}: {problem[1]}.")
    try:
        async with source.engine.connect() as conn:
            overrides = await active_overrides(conn, None, *override_window(at, start, end))
    except StoreError as exc:
        raise ApiError(503, str(exc)) from exc
    return [
        schedule_view(people, s, at=at, start=start, end=end, overrides=overrides)
        for s in schedules
    ]


@require_scope("read")
async def list_oncall(request: web.Request) -> web.Response:
    """Every schedule: who is on call now and the shifts of the next 7 days."""
    people = request.app[SOURCE].people()
    views = await _view(request, people, people.schedules) if people.schedules else []
    return json_response({"schedules": views})


@require_scope("read")
async def get_oncall(request: web.Request) -> web.Response:
    """One schedule: who is on call at `at` (default now), the shifts and gaps of from..to."""
    people, schedule = _schedule(request)
    (view,) = await _view(request, people, [schedule])
    return json_response(view)


@require_scope("read")
async def get_overrides(request: web.Request) -> web.Response:
    """The schedule's current and coming overrides (`all=1`: past ones too), in pages."""
    _, schedule = _schedule(request)
    source = request.app[SOURCE]
    since = None if request.query.get("all") in ("1", "true") else source.clock.now()
    page = page_of(request)
    try:
        async with source.engine.connect() as conn:
            found = await list_overrides(conn, schedule.name, since=since, page=page)
    except StoreError as exc:
        raise ApiError(503, str(exc)) from exc
    listed = Listed([override_dict(o) for o in found.items], found.total)
    return paged(request, "overrides", listed, page)


@require_scope("write")
@accepts(OverrideBody)
async def post_override(request: web.Request) -> web.Response:
    """Put `user` on call in the schedule from `start` to `end`, recorded with who and why."""
    people, schedule = _schedule(request)
    body = await model_body(request, OverrideBody)
    zone = ZoneInfo(schedule.timezone)
    source = request.app[SOURCE]
    fields = {
        "schedule": schedule.name,
        "user": body.user,
        "start": _epoch(body.start, zone),
        "end": _epoch(body.end, zone),
        "author": actor(request, body.by),
        "reason": body.reason,
    }
    try:
        check_override(people, **fields)
        async with source.engine.begin() as conn:
            added = await add_override(conn, **fields, now=source.clock.now())
    except OverrideError as exc:
        raise ApiError(400, f"Field '{exc.field}': {exc}") from exc
    except StoreError as exc:
        raise ApiError(503, str(exc)) from exc
    return json_response(override_dict(added), status=201)


@require_scope("write")
async def remove_override(request: web.Request) -> web.Response:
    """Delete one override of the schedule."""
    _, schedule = _schedule(request)
    override_id = path_id(request, "override")
    source = request.app[SOURCE]
    try:
        async with source.engine.begin() as conn:
            deleted = await delete_override(conn, schedule.name, override_id)
    except StoreError as exc:
        raise ApiError(503, str(exc)) from exc
    if deleted is None:
        raise ApiError(404, f"Schedule {schedule.name!r} has no override {override_id}.")
    return json_response({"deleted": override_dict(deleted)})


def add_routes(app: web.Application, source: OncallSource) -> None:
    """Serve the on-call routes from `source`."""
    app[SOURCE] = source
    app.router.add_get("/api/v1/oncall", list_oncall)
    app.router.add_get("/api/v1/oncall/{schedule}", get_oncall)
    app.router.add_get("/api/v1/oncall/{schedule}/overrides", get_overrides)
    app.router.add_post("/api/v1/oncall/{schedule}/overrides", post_override)
    app.router.add_delete("/api/v1/oncall/{schedule}/overrides/{id}", remove_override)
