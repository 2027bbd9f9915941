"""Paginated lists over HTTP: every list endpoint takes `limit` (default 200, at most 1000) and
`offset`, and answers with the page under its usual key plus `total`, `limit`, `offset` and
`next` (the URL of the next page, null on the last), and the same as a `Link: <…>; rel="next"`
header and `X-Total-Count`, so no client is silently shown the first 200 of 11,301."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from yarl import URL

from watchd.api.errors import ApiError, json_response
from watchd.store.pages import DEFAULT_LIMIT, MAX_LIMIT, Listed, Page

MAX_OFFSET = 10**9


def page_of(request: web.Request) -> Page:
    """The page a request asks for (`limit`, `offset`); ApiError 400 naming a bad one."""
    return Page(
        _number(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        _number(request, "offset", 0, 0, MAX_OFFSET),
    )


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and low <= int(raw) <= high):
        raise ApiError(
            400,
            f"The query parameter {name!r} must be a whole number from {low} to {high}, "
            f"got {raw[:40]!r}.",
        )
    return int(raw)


def paged(request: web.Request, key: str, listed: Listed[Any], page: Page) -> web.Response:
    """The JSON answer for one page of a list: `{key: [...], total, limit, offset, next}`."""
    following = Pager.of(request, listed, page).next
    headers = {"X-Total-Count": str(listed.total)}
    if following is not None:
        headers["Link"] = f'<{following}>; rel="next"'
    body = {
        key: listed.items,
        "total": listed.total,
        "limit": page.limit,
        "offset": page.offset,
        "next": following,
    }
    return json_response(body, headers=headers)


@dataclass(frozen=True, slots=True)
class Pager:
    """What a dashboard page shows about its list's page (templates/_pager.html): entries
    `first`..`last` (from 1) of `total`, and the URLs of the pages before and after."""

    first: int
    last: int
    total: int
    shown: int
    limit: int
    previous: str | None
    next: str | None

    @classmethod
    def of(
        cls, request: web.Request, listed: Listed[Any], page: Page, *, url: URL | None = None
    ) -> Pager:
        """The pager of `page`, linking to `url` (by default the request's own) with other
        offsets."""
        shown = len(listed.items)
        end = page.offset + shown
        base = request.rel_url if url is None else url

        def at(offset: int) -> str:
            return str(base.update_query(offset=offset, limit=page.limit))

        return cls(
            first=page.offset + 1 if shown else 0,
            last=end,
            total=listed.total,
            shown=shown,
            limit=page.limit,
            previous=at(max(0, page.offset - page.limit)) if page.offset > 0 else None,
            next=at(end) if shown and end < listed.total else None,
        )
