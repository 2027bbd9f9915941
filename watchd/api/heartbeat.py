"""Heartbeat pings from external jobs (backups, cron jobs), as Healthchecks.io takes them.

    GET|POST /api/v1/heartbeat/ITEM/CHECK           the job succeeded
    GET|POST /api/v1/heartbeat/ITEM/CHECK/start     the job started (its run is timed)
    GET|POST /api/v1/heartbeat/ITEM/CHECK/fail      the job failed
    GET|POST /api/v1/heartbeat/ITEM/CHECK/CODE      the job ended with exit code CODE (0-255;
                                                    0 is a success, any other a failure)

The job proves itself with the check's secret in the URL (`?key=...`) or a bearer token with
the `ingest` scope; a check without a secret on an API without tokens takes anyone's ping. A
200 is answered once the ping is stored: the node that owns the check reads it there, and a
restart forgets none. No URL is logged (the API keeps no access log), so the secret is not.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from watchd.api.auth import TOKENS, bearer, public
from watchd.api.errors import ApiError
from watchd.clock import Clock
from watchd.heartbeats import PingKind
from watchd.store import StoreError

RETRY_AFTER_SECONDS = 5

Record = Callable[[str, PingKind, float, int | None], Awaitable[None]]
"""Stores a ping: check key, "success" | "start" | "fail", time, exit code."""


def add_routes(
    app: web.Application,
    *,
    secrets: Callable[[], Mapping[str, str | None]],
    record: Record,
    clock: Clock,
) -> None:
    """Add the heartbeat ping routes; `secrets()` maps each heartbeat check's key
    ("item/check") to its secret (None: none configured), read again on every ping so a
    reload's checks count at once."""

    @public  # authenticated here: a check's secret in the URL is as good as a token
    async def ping(request: web.Request) -> web.Response:
        """Store a heartbeat ping; 200 once it is stored."""
        key = f"{request.match_info['item']}/{request.match_info['check']}"
        known = secrets()
        _authorize(request, known.get(key))
        if key not in known:
            raise ApiError(404, f"No heartbeat check is named {key!r}.")
        kind, code = _action(request.match_info.get("action", ""))
        try:
            await record(key, kind, clock.now(), code)
        except StoreError as exc:
            if not exc.outage:
                raise
            raise ApiError(
                503,
                "The ping could not be stored just now; send it again.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from exc
        return web.Response(text="OK\n")

    for path in ("/api/v1/heartbeat/{item}/{check}", "/api/v1/heartbeat/{item}/{check}/{action}"):
        app.router.add_get(path, ping, allow_head=False)
        app.router.add_post(path, ping)


def _authorize(request: web.Request, secret: str | None) -> None:
    presented = request.query.get("key")
    if secret is not None and presented is not None:
        if hmac.compare_digest(presented.encode(), secret.encode()):
            return
        raise ApiError(403, "The key in the URL is not this heartbeat check's secret.")
    table = request.app[TOKENS]
    token = bearer(request)
    if token is not None:
        scopes = table.scopes(token)
        if scopes is None:
            raise ApiError(401, "The bearer token is not valid.")
        if "ingest" not in scopes:
            raise ApiError(403, "The token does not have the 'ingest' scope pings need.")
        return
    if secret is not None or table.enabled:
        raise ApiError(
            401, "A heartbeat ping needs the check's secret (?key=...) or an ingest token."
        )


def _action(action: str) -> tuple[PingKind, int | None]:
    if action == "":
        return "success", None
    if action == "start":
        return "start", None
    if action == "fail":
        return "fail", None
    if action.isdigit() and int(action) <= 255:
        code = int(action)
        return ("success", None) if code == 0 else ("fail", code)
    raise ApiError(404, f"Unknown heartbeat action {action!r} (expected start, fail or 0-255).")
