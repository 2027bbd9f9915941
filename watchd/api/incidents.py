"""Incidents, silences, changes, problems and alerts over HTTP (DESIGN.md §5).

    GET  /api/v1/incidents?state=&severity=&item=     read
    GET  /api/v1/incidents/{id}                       read   (alerts + timeline)
    POST /api/v1/incidents/{id}/ack|unack|resolve|close|comment   write  {"by", "comment"|"text"}
    GET  /api/v1/silences[?all=1]   POST /api/v1/silences   DELETE /api/v1/silences/{id}
    GET  /api/v1/changes            POST /api/v1/changes    DELETE /api/v1/changes/{id} (ends it)
    GET  /api/v1/problems[?state=]  POST /api/v1/problems/{id}/close  {"by", "comment"}
    GET  /api/v1/alerts[?status=]

Every list takes `limit` (default 200, at most 1000) and `offset` and answers with `total`,
`limit`, `offset` and `next` beside the list (watchd.api.pages).

The actor of an action is the `by` field of the body alongside the name of the request's token
("alice via token ops-dashboard"), either alone, else "api"; with a personal token or a signed-in
dashboard session, the person (see watchd.api.auth.actor). A personal token restricted to teams
acts only on incidents whose escalation policy pages one of them (`reach`), else 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from watchd.api.auth import TEAMS, actor, require_scope, team_checked
from watchd.api.errors import ApiError, json_response
from watchd.api.inputs import StrictBody, model_body, path_id
from watchd.api.openapi import accepts
from watchd.api.pages import page_of, paged
from watchd.durations import parse_duration
from watchd.incidents.changes import ChangeError
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.lifecycle import TransitionError
from watchd.incidents.problems import ProblemClosed, ProblemNotFound
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.silences import SilenceError, SilenceNotFound
from watchd.timestamps import time_problem

SERVICE = web.AppKey("watchd.incidents", IncidentService)


class ActionBody(StrictBody):
    by: str | None = Field(default=None, min_length=1)
    comment: str = ""


class CommentBody(StrictBody):
    by: str | None = Field(default=None, min_length=1)
    text: str = Field(min_length=1)


class SilenceBody(StrictBody):
    matchers: list[str] = Field(min_length=1)
    starts_at: float | datetime | None = None
    ends_at: float | datetime | None = None
    duration: str | None = None
    created_by: str | None = Field(default=None, min_length=1)
    comment: str = ""
    # The silence this one replaces (ended in the same transaction): how a silence is extended.
    replaces: str | None = Field(default=None, min_length=1, max_length=64)


class ChangeBody(StrictBody):
    item: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    starts_at: float | datetime
    ends_at: float | datetime
    ticket: str = ""
    created_by: str | None = Field(default=None, min_length=1)


def _epoch(value: float | datetime) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _id(request: web.Request, kind: str = "incident") -> int:
    return path_id(request, kind)


async def _guard(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except (IncidentNotFound, ProblemNotFound, SilenceNotFound) as exc:
        raise ApiError(404, str(exc)) from exc
    except (TransitionError, ProblemClosed) as exc:
        raise ApiError(409, str(exc)) from exc
    except (SilenceError, ChangeError) as exc:
        raise ApiError(400, f"Field '{exc.field}': {exc}") from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


@require_scope("read")
async def list_incidents(request: web.Request) -> web.Response:
    q = request.query
    page = page_of(request)
    found = await request.app[SERVICE].incidents_page(
        state=q.get("state"), severity=q.get("severity"), item=q.get("item"), page=page
    )
    return paged(request, "incidents", found, page)


@require_scope("read")
async def get_incident(request: web.Request) -> web.Response:
    return json_response(await _guard(request.app[SERVICE].get_incident(_id(request))))


REACH: web.AppKey[Callable[[str | None], frozenset[str]]] = web.AppKey("watchd.incident_reach")
"""The teams an escalation policy (by name) pages."""


async def _within_teams(request: web.Request, incident_id: int) -> None:
    """403 unless the request's token is unrestricted or the incident reaches one of its teams."""
    teams = request.get(TEAMS)
    if teams is None:
        return
    incident = await _guard(request.app[SERVICE].get_incident(incident_id))
    if not teams & request.app[REACH](incident.get("escalation_policy")):
        raise ApiError(
            403,
            f"The token is restricted to teams ({', '.join(sorted(teams))}) and incident "
            f"{incident_id}'s escalation pages none of them.",
        )


def _action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    @require_scope("write")
    @team_checked
    @accepts(CommentBody if name == "comment" else ActionBody)
    async def act(request: web.Request) -> web.Response:
        incident_id = _id(request)
        service = request.app[SERVICE]
        await _within_teams(request, incident_id)
        if name == "comment":
            body = await model_body(request, CommentBody)
            result = await _guard(service.comment(incident_id, actor(request, body.by), body.text))
        else:
            body = await model_body(request, ActionBody)
            method = {
                "ack": service.acknowledge,
                "unack": service.unacknowledge,
                "resolve": service.resolve,
                "close": service.close,
            }[name]
            result = await _guard(method(incident_id, actor(request, body.by), body.comment))
        return json_response(result)

    return act


@require_scope("read")
async def list_silences(request: web.Request) -> web.Response:
    include = request.query.get("all", "") in ("1", "true", "yes")
    page = page_of(request)
    found = await request.app[SERVICE].silences_page(include_expired=include, page=page)
    return paged(request, "silences", found, page)


@require_scope("write")
@accepts(SilenceBody)
async def post_silence(request: web.Request) -> web.Response:
    body = await model_body(request, SilenceBody)
    service = request.app[SERVICE]
    starts = None if body.starts_at is None else _epoch(body.starts_at)
    if starts is not None and (problem := time_problem(starts)) is not None:
        raise ApiError(400, f"Field 'starts_at': {problem}.")
    if body.ends_at is not None:
        ends = _epoch(body.ends_at)
    elif body.duration is not None:
        try:
            ends = (starts if starts is not None else service.now()) + parse_duration(body.duration)
        except ValueError as exc:
            raise ApiError(400, f"Field 'duration': {exc}.") from exc
        if (problem := time_problem(ends)) is not None:
            raise ApiError(
                400, f"Field 'duration': the silence would end at no valid time: {problem}."
            )
    else:
        raise ApiError(400, "A silence needs 'ends_at' or 'duration'.")
    silence = await _guard(
        service.add_silence(
            matchers=body.matchers,
            starts_at=starts,
            ends_at=ends,
            created_by=actor(request, body.created_by),
            comment=body.comment,
            replacing=body.replaces,
        )
    )
    return json_response(silence, status=201)


@require_scope("write")
async def delete_silence(request: web.Request) -> web.Response:
    silence_id = request.match_info["id"]
    if not await request.app[SERVICE].expire_silence(silence_id):
        raise ApiError(404, f"There is no running or pending silence {silence_id}.")
    return json_response({"expired": silence_id})


@require_scope("read")
async def list_changes(request: web.Request) -> web.Response:
    page = page_of(request)
    return paged(request, "changes", await request.app[SERVICE].changes_page(page), page)


@require_scope("write")
async def end_change(request: web.Request) -> web.Response:
    """End a running or pending change now (its maintenance window closes)."""
    change_id = _id(request, "change")
    if not await request.app[SERVICE].end_change(change_id):
        raise ApiError(404, f"There is no running or pending change {change_id}.")
    return json_response({"ended": change_id})


@require_scope("write")
@accepts(ChangeBody)
async def post_change(request: web.Request) -> web.Response:
    body = await model_body(request, ChangeBody)
    change = await _guard(
        request.app[SERVICE].add_change(
            item=body.item,
            summary=body.summary,
            starts_at=_epoch(body.starts_at),
            ends_at=_epoch(body.ends_at),
            ticket=body.ticket,
            created_by=actor(request, body.created_by),
        )
    )
    return json_response(change, status=201)


@require_scope("read")
async def list_problems(request: web.Request) -> web.Response:
    page = page_of(request)
    found = await request.app[SERVICE].problems_page(state=request.query.get("state"), page=page)
    return paged(request, "problems", found, page)


@require_scope("write")
@accepts(ActionBody)
async def close_problem(request: web.Request) -> web.Response:
    """Close an open problem; `comment` records what was done about it."""
    problem_id = _id(request, "problem")
    body = await model_body(request, ActionBody)
    closed = await _guard(
        request.app[SERVICE].close_problem(problem_id, actor(request, body.by), body.comment)
    )
    return json_response(closed)


@require_scope("read")
async def list_alerts(request: web.Request) -> web.Response:
    page = page_of(request)
    found = await request.app[SERVICE].alerts_page(status=request.query.get("status"), page=page)
    return paged(request, "alerts", found, page)


def _no_team(policy: str | None) -> frozenset[str]:
    return frozenset()


def add_routes(
    app: web.Application,
    service: IncidentService,
    reach: Callable[[str | None], frozenset[str]] = _no_team,
) -> None:
    """Add the incident routes to an app from watchd.api.create_app; `reach` gives the teams
    an escalation policy pages (for tokens restricted to teams)."""
    app[SERVICE] = service
    app[REACH] = reach
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_get("/api/v1/incidents/{id}", get_incident)
    for name in ("ack", "unack", "resolve", "close", "comment"):
        app.router.add_post(f"/api/v1/incidents/{{id}}/{name}", _action(name))
    app.router.add_get("/api/v1/silences", list_silences)
    app.router.add_post("/api/v1/silences", post_silence)
    app.router.add_delete("/api/v1/silences/{id}", delete_silence)
    app.router.add_get("/api/v1/changes", list_changes)
    app.router.add_post("/api/v1/changes", post_change)
    app.router.add_delete("/api/v1/changes/{id}", end_change)
    app.router.add_get("/api/v1/problems", list_problems)
    app.router.add_post("/api/v1/problems/{id}/close", close_problem)
    app.router.add_get("/api/v1/alerts", list_alerts)
