"""The dashboard's review pages (watchd.api.dashboard's sign-in and headers apply):

    GET /incidents/{id}/review   the incident's review, or a button that starts it
    GET /reviews/{id}            a review with its form: title, impact, cause, actions

The forms call the review API (watchd.api.reviews) with the write token saved in the page, as
the ack buttons do; cross-origin writes are refused by watchd.api.origin.
"""

from __future__ import annotations

from aiohttp import web

from watchd.api.auth import public
from watchd.api.dashboard import DASHBOARD, _guard, _page
from watchd.api.inputs import found_by_path_id, path_id
from watchd.api.reviews import REVIEWS
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.reviews import MAX_LINE, MAX_NAME, MAX_TEXT, ReviewNotFound, Target

LIMITS = {"line": MAX_LINE, "name": MAX_NAME, "text": MAX_TEXT}


@public  # the page guard asks for the dashboard session, as every page does
async def incident_review(request: web.Request) -> web.StreamResponse:
    """The incident's review page, or the page that starts it."""
    if (denied := await _guard(request)) is not None:
        return denied
    incident_id = path_id(request, "incident", bad_status=404)
    try:
        review = await request.app[REVIEWS].of(Target("incident", incident_id))
    except ReviewNotFound:
        incidents = request.app[DASHBOARD].incidents
        _, incident = await found_by_path_id(
            request, "incident", incidents.get_incident, IncidentNotFound
        )
        return _page(
            request,
            "review_start.html",
            incident=incident,
        )
    raise web.HTTPSeeOther(f"/reviews/{review['id']}")


@public  # the page guard asks for the dashboard session, as every page does
async def review_page(request: web.Request) -> web.Response:
    """One review with the form that edits it."""
    if (denied := await _guard(request)) is not None:
        return denied
    service = request.app[REVIEWS]
    _, review = await found_by_path_id(request, "review", service.get, ReviewNotFound)
    return _page(
        request,
        "review.html",
        review=review,
        now=service.now(),
        limits=LIMITS,
    )


def add_routes(app: web.Application) -> None:
    """Add the review pages to an app that has the dashboard's and the review API's routes."""
    app.router.add_get("/incidents/{id}/review", incident_review)
    app.router.add_get("/reviews/{id}", review_page)
