"""GET /runbooks/{name}: a Markdown runbook shipped with the rules or config, as a page.

Only the files rules and checks name are served (a name is looked up, never joined to a path,
so no other file can be reached), read when asked (an edited runbook shows without a reload),
and rendered by markdown-it-py with raw HTML off: HTML in the file is shown as text, and links
with javascript: or data: targets are dropped. Like the other pages, it takes the dashboard's
session cookie (or no token when none are configured): a link in an email must open in a browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web
from markdown_it import MarkdownIt
from markupsafe import Markup

from watchd.api.auth import public
from watchd.api.dashboard import _guard, _page
from watchd.api.errors import ApiError
from watchd.runbooks import MAX_RUNBOOK_BYTES, ROUTE_PREFIX

RUNBOOKS: web.AppKey[Callable[[], Mapping[str, Path]]] = web.AppKey("watchd.runbooks")
# CommonMark with raw HTML off: "<script>" in a runbook is text on the page.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def render_markdown(text: str) -> Markup:
    """A runbook's Markdown as safe HTML (raw HTML in it escaped, unsafe link targets dropped)."""
    return Markup(_MARKDOWN.render(text))


@public  # the page guard below asks for the session cookie, as every dashboard page does
async def runbook(request: web.Request) -> web.Response:
    """A Markdown runbook a rule or check names, as a page."""
    if (denied := await _guard(request)) is not None:
        return denied
    name = request.match_info["name"]
    path = request.app[RUNBOOKS]().get(name)
    if path is None:
        raise ApiError(404, f"No rule or check names a runbook {name[:200]!r}.")
    try:
        data = await asyncio.to_thread(_read, path)
    except OSError as exc:
        raise ApiError(404, f"The runbook {name!r} cannot be read: {exc.strerror}.") from exc
    text = data.decode("utf-8", "replace")
    return _page(request, "runbook.html", name=name, body=render_markdown(text))


def _read(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(MAX_RUNBOOK_BYTES + 1)[:MAX_RUNBOOK_BYTES]


def add_routes(app: web.Application, runbooks: Callable[[], Mapping[str, Path]]) -> None:
    """Serve the runbooks `runbooks()` names (asked at each request: a reload may change
    them); the app must have the dashboard's routes (watchd.api.dashboard)."""
    app[RUNBOOKS] = runbooks
    app.router.add_get(ROUTE_PREFIX + "{name:.+}", runbook)
