"""The language of a page: the signed-in user's `locale`, else the browser's Accept-Language,
else `[daemon] locale`. Public pages (no user) start at the browser's.

Answers whose text depends on it say so with `Vary: Accept-Language`, so no cache hands one
reader's language to another.
"""

from __future__ import annotations

from aiohttp import web

from watchd.i18n import accepted_locale


def page_locale(request: web.Request, *, user: str | None, default: str) -> str:
    """The locale to write `request`'s page in: `user` (the signed-in user's own, or None),
    else the one Accept-Language prefers among those shipped, else `default`."""
    return user or accepted_locale(request.headers.get("Accept-Language")) or default


def vary_on_language(response: web.StreamResponse) -> None:
    """Mark `response` as depending on Accept-Language (keeping any Vary it has)."""
    present = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    if "accept-language" not in (v.lower() for v in present):
        response.headers["Vary"] = ", ".join([*present, "Accept-Language"])
