"""The dashboard's problem and change pages (watchd.api.dashboard's sign-in and headers apply):

    GET /problems        problems (an incident key recurring), ?state=open or closed
    GET /problems/{id}   one problem, its incidents, Close (with what was done) while open
    GET /changes         changes (planned work muting an item and what depends on it)
    GET /changes/{id}    one change, the incidents it muted, End now / Cancel until it ends

Their buttons call the REST API (POST /api/v1/problems/{id}/close, DELETE /api/v1/changes/{id})
as the incident buttons do: same permission, same origin check.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from watchd.api.auth import public
from watchd.api.dashboard import DASHBOARD, _guard, _page
from watchd.api.inputs import found_by_path_id
from watchd.api.pages import Pager, page_of
from watchd.incidents.problems import ProblemNotFound
from watchd.pipeline.incident_query import IncidentFilter
from watchd.store.pages import Listed, Page


def _listing(
    request: web.Request, template: str, found: Listed[Any], page: Page, **context: Any
) -> web.Response:
    """A list page: one page of `found` as `rows`, with its pager."""
    return _page(
        request,
        template,
        rows=found.items,
        pager=Pager.of(request, found, page),
        now=request.app[DASHBOARD].reports.clock.now(),
        **context,
    )


async def _with_incidents(
    request: web.Request, template: str, where: IncidentFilter, **context: Any
) -> web.Response:
    """A detail page with one page of the incidents `where` picks (newest first)."""
    page = page_of(request)
    listed = await request.app[DASHBOARD].incidents.incidents_page(where=where, page=page)
    return _page(
        request,
        template,
        incidents=listed.items,
        pager=Pager.of(request, listed, page),
        view="detail",
        filters=None,
        now=request.app[DASHBOARD].reports.clock.now(),
        **context,
    )


@public  # the page guard asks for the dashboard session, as every page does
async def problems_list(request: web.Request) -> web.Response:
    """Problems, newest first; ?state=open or closed."""
    if (denied := await _guard(request)) is not None:
        return denied
    state = request.query.get("state", "")
    page = page_of(request)
    found = await request.app[DASHBOARD].incidents.problems_page(
        state=state if state in ("open", "closed") else None, page=page
    )
    return _listing(request, "problems.html", found, page, state=state)


@public
async def problem(request: web.Request) -> web.Response:
    """One problem, its close form while it is open, and its incidents."""
    if (denied := await _guard(request)) is not None:
        return denied
    incidents = request.app[DASHBOARD].incidents
    problem_id, found = await found_by_path_id(
        request, "problem", incidents.get_problem, ProblemNotFound
    )
    where = IncidentFilter(problem_id=problem_id)
    return await _with_incidents(request, "problem.html", where, problem=found)


@public
async def changes_list(request: web.Request) -> web.Response:
    """Changes, latest start first."""
    if (denied := await _guard(request)) is not None:
        return denied
    page = page_of(request)
    found = await request.app[DASHBOARD].incidents.changes_page(page)
    return _listing(request, "changes.html", found, page)


@public
async def change(request: web.Request) -> web.Response:
    """One change, its End button until it has ended, and the incidents it muted."""
    if (denied := await _guard(request)) is not None:
        return denied
    incidents = request.app[DASHBOARD].incidents
    change_id, found = await found_by_path_id(request, "change", incidents.get_change)
    where = IncidentFilter(change_id=change_id)
    return await _with_incidents(request, "change.html", where, change=found)


def add_routes(app: web.Application) -> None:
    """Add the problem and change pages to an app that has the dashboard (after it)."""
    app.router.add_get("/problems", problems_list)
    app.router.add_get("/problems/{id}", problem)
    app.router.add_get("/changes", changes_list)
    app.router.add_get("/changes/{id}", change)
