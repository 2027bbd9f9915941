"""Post-incident reviews over HTTP (watchd.incidents.reviews).

    GET   /api/v1/reviews[?incident=&problem=]        read   (a page of reviews, or the one of
                                                              an incident or problem)
    POST  /api/v1/reviews                             write  {"incident"|"problem", "impact",
                                                              "cause", "actions", "by"} -> 201
    GET   /api/v1/reviews/{id}                        read
    PATCH /api/v1/reviews/{id}                        write  {"title", "impact", "cause",
                                                              "timeline", "by", "version"}
    POST  /api/v1/reviews/{id}/actions                write  {"kind", "text", "owner", "due",
                                                              "version"}
    PATCH /api/v1/reviews/{id}/actions/{action}       write  {"kind", "text", "owner", "due",
                                                              "done", "version"}
    GET   /api/v1/reviews/overdue                     read   (actions past their due date)

A review carries a `version` (also its ETag), raised by every edit. An edit that names the
version it was made from - the `version` field, or an `If-Match: "3"` header - is refused with
409 when the review changed since (someone else saved in between); without either, the edit
applies as it comes (last write wins, as before).

Times are epoch seconds or RFC 3339 (a date or a time without an offset is UTC). Text fields
have the limits of watchd.incidents.reviews; bodies the API's size limit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from watchd.api.auth import actor, require_scope
from watchd.api.errors import ApiError, json_response
from watchd.api.inputs import StrictBody, model_body, path_id, query_int
from watchd.api.openapi import accepts
from watchd.api.pages import page_of, paged
from watchd.incidents.reviews import (
    MAX_ACTIONS,
    MAX_LINE,
    MAX_NAME,
    MAX_TEXT,
    MAX_TIMELINE,
    ActionInput,
    ReviewChanged,
    ReviewExists,
    ReviewInvalid,
    ReviewNotFound,
    Target,
)
from watchd.pipeline.reviews import ReviewService
from watchd.timestamps import time_problem

REVIEWS = web.AppKey("watchd.reviews", ReviewService)

Time = float | datetime | date


class ActionBody(StrictBody):
    kind: Literal["corrective", "preventive"]
    text: str = Field(min_length=1, max_length=MAX_LINE)
    owner: str = Field(min_length=1, max_length=MAX_NAME)
    due: Time
    by: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    version: int | None = Field(default=None, ge=1)


class ActionPatch(StrictBody):
    kind: Literal["corrective", "preventive"] | None = None
    text: str | None = Field(default=None, min_length=1, max_length=MAX_LINE)
    owner: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    due: Time | None = None
    done: bool | None = None
    by: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    version: int | None = Field(default=None, ge=1)


class NewReview(StrictBody):
    incident: int | None = Field(default=None, ge=1)
    problem: int | None = Field(default=None, ge=1)
    impact: str = Field(default="", max_length=MAX_TEXT)
    cause: str = Field(default="", max_length=MAX_TEXT)
    actions: list[ActionBody] = Field(default=[], max_length=MAX_ACTIONS)
    by: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)


class TimelineEntry(StrictBody):
    time: Time
    text: str = Field(max_length=MAX_LINE)


class ReviewPatch(StrictBody):
    title: str | None = Field(default=None, min_length=1, max_length=MAX_LINE)
    impact: str | None = Field(default=None, max_length=MAX_TEXT)
    cause: str | None = Field(default=None, max_length=MAX_TEXT)
    timeline: list[TimelineEntry] | None = Field(default=None, max_length=MAX_TIMELINE + 1)
    by: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    version: int | None = Field(default=None, ge=1)


def epoch(value: float | datetime | date, field: str) -> float:
    """A time from the API as epoch seconds (a date is its midnight UTC, a naive time UTC);
    ApiError 400 naming `field` for one out of range."""
    if isinstance(value, datetime):
        seconds = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, date):
        seconds = datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    else:
        seconds = float(value)
    if (problem := time_problem(seconds)) is not None:
        raise ApiError(400, f"Field '{field}': {problem}.")
    return seconds


async def _guard(call: Any) -> Any:
    try:
        return await call
    except ReviewNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except (ReviewExists, ReviewChanged) as exc:
        raise ApiError(409, str(exc)) from exc
    except ReviewInvalid as exc:
        raise ApiError(400, f"Field '{exc.field}': {exc.reason}.") from exc


def expected_version(request: web.Request, version: int | None) -> int | None:
    """The version an edit was made from: the body's `version`, else the If-Match header's
    ("3", W/"3" or 3); ApiError 400 for an If-Match that is no version, or one that differs
    from the body's."""
    header = request.headers.get("If-Match")
    if header is None:
        return version
    raw = header.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ApiError(400, 'Header If-Match: expected a review version, e.g. "3".')
    if version is not None and version != int(raw):
        raise ApiError(400, "The If-Match header and the field 'version' name different versions.")
    return int(raw)


def reviewed(review: dict[str, Any], status: int = 200) -> web.Response:
    """A review as JSON with its version as the ETag (for a later If-Match)."""
    response = json_response(review, status=status)
    response.headers["ETag"] = f'"{review["version"]}"'
    return response


def _action(body: ActionBody, field: str) -> ActionInput:
    return ActionInput(body.kind, body.text, body.owner, epoch(body.due, f"{field}.due"))


def _target(incident: int | None, problem: int | None) -> Target:
    if (incident is None) == (problem is None):
        raise ApiError(400, "A review is of an incident or of a problem: give one of the two.")
    return Target("incident", incident) if incident is not None else Target("problem", problem or 0)


@require_scope("read")
async def list_reviews(request: web.Request) -> web.Response:
    """A page of reviews, newest first; with ?incident= or ?problem=, that one's review."""
    incident = query_int(request, "incident", None)
    problem = query_int(request, "problem", None)
    service = request.app[REVIEWS]
    if incident is not None or problem is not None:
        return json_response(await _guard(service.of(_target(incident, problem))))
    page = page_of(request)
    return paged(request, "reviews", await service.page(page=page), page)


@require_scope("write")
@accepts(NewReview)
async def post_review(request: web.Request) -> web.Response:
    """Start the review of an incident or problem, its timeline filled in from the incident's."""
    body = await model_body(request, NewReview)
    target = _target(body.incident, body.problem)
    actions = [_action(a, f"actions.{i}") for i, a in enumerate(body.actions)]
    review = await _guard(
        request.app[REVIEWS].start(
            target,
            by=actor(request, body.by),
            impact=body.impact,
            cause=body.cause,
            actions=actions,
        )
    )
    return json_response(review, status=201)


@require_scope("read")
async def get_review(request: web.Request) -> web.Response:
    """One review with its actions."""
    review_id = path_id(request, "review")
    return reviewed(await _guard(request.app[REVIEWS].get(review_id)))


@require_scope("write")
@accepts(ReviewPatch)
async def patch_review(request: web.Request) -> web.Response:
    """Change a review's title, impact, cause or timeline; other fields keep their value."""
    review_id = path_id(request, "review")
    body = await model_body(request, ReviewPatch)
    changes: dict[str, Any] = body.model_dump(
        exclude_unset=True, exclude={"by", "timeline", "version"}
    )
    if body.timeline is not None:
        changes["timeline"] = [
            {"time": epoch(e.time, f"timeline.{i}.time"), "text": e.text}
            for i, e in enumerate(body.timeline)
        ]
    if any(value is None for value in changes.values()):
        raise ApiError(400, "A field given must have a value; leave it out to keep it.")
    expected = expected_version(request, body.version)
    edited = request.app[REVIEWS].edit(
        review_id, changes, by=actor(request, body.by), expected=expected
    )
    return reviewed(await _guard(edited))


@require_scope("write")
@accepts(ActionBody)
async def post_action(request: web.Request) -> web.Response:
    """Add a corrective or preventive action (owner, due date) to a review."""
    review_id = path_id(request, "review")
    body = await model_body(request, ActionBody)
    added = request.app[REVIEWS].add_action(
        review_id,
        _action(body, "action"),
        by=actor(request, body.by),
        expected=expected_version(request, body.version),
    )
    return reviewed(await _guard(added), status=201)


@require_scope("write")
@accepts(ActionPatch)
async def patch_action(request: web.Request) -> web.Response:
    """Change an action, or mark it done (who and when are recorded) or not done."""
    review_id = path_id(request, "review")
    raw = request.match_info["action"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ApiError(404, f"There is no action {raw[:40]!r}.")
    body = await model_body(request, ActionPatch)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"by", "due", "version"})
    if body.due is not None:
        changes["due"] = epoch(body.due, "due")
    if any(value is None for value in changes.values()):
        raise ApiError(400, "A field given must have a value; leave it out to keep it.")
    edited = request.app[REVIEWS].edit_action(
        review_id,
        int(raw),
        changes,
        by=actor(request, body.by),
        expected=expected_version(request, body.version),
    )
    return reviewed(await _guard(edited))


@require_scope("read")
async def overdue(request: web.Request) -> web.Response:
    """Review actions not done by their due date, the longest overdue first."""
    return json_response({"actions": await request.app[REVIEWS].overdue()})


def add_routes(app: web.Application, service: ReviewService) -> None:
    """Add the review routes to an app from watchd.api.create_app."""
    app[REVIEWS] = service
    app.router.add_get("/api/v1/reviews", list_reviews)
    app.router.add_post("/api/v1/reviews", post_review)
    app.router.add_get("/api/v1/reviews/overdue", overdue)
    app.router.add_get("/api/v1/reviews/{id}", get_review)
    app.router.add_patch("/api/v1/reviews/{id}", patch_review)
    app.router.add_post("/api/v1/reviews/{id}/actions", post_action)
    app.router.add_patch("/api/v1/reviews/{id}/actions/{action}", patch_action)
