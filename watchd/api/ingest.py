"""HTTP ingestion: the Alertmanager API v2 alert endpoint and generic events.

    POST /api/v2/alerts   Alertmanager "postableAlerts", as Prometheus sends them
    POST /api/v1/events   one generic event or a list of them

Both need the `ingest` scope. A 200 (empty body, like Alertmanager) is sent only after every
alert of the request is durably committed: taken in by the pipeline when it was idle, or
journaled while it was busy (watchd.ingest.journal): a sender that got 200 may forget them. A
bad alert is refused alone, as Alertmanager does: the others of its request are stored, then
the answer is 400 naming each bad alert and field (and how many were stored). A store that
cannot commit just now gets 503 with Retry-After, so the sender retries and nothing is lost;
an alert the store refuses for what it holds is never reported as such an outage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from watchd.api import ApiError, require_scope
from watchd.api.inputs import read_body
from watchd.api.openapi import accepts
from watchd.clock import Clock
from watchd.ingest.journal import IngestJournal
from watchd.ingest.payloads import (
    Event,
    Parsed,
    PayloadError,
    PostableAlert,
    json_body,
    parse_alertmanager,
    parse_events,
)
from watchd.model import AlertSink
from watchd.store import StoreError

RETRY_AFTER_SECONDS = 5


def add_routes(
    app: web.Application,
    *,
    sink: AlertSink | IngestJournal,
    clock: Clock,
    resolve_timeout: float = 300.0,
    invalid: Callable[[int], None] | None = None,
) -> None:
    """Add POST /api/v2/alerts and POST /api/v1/events to `app`, submitting to `sink`.

    `sink` is the daemon's IngestJournal, or a plain sink (the routes alone, over a sink
    without a journal: every request then waits for its alerts to be taken in).
    `resolve_timeout` is how long an Alertmanager alert without endsAt stays firing unless
    it is sent again; `invalid` is told how many alerts of a request were refused as invalid
    (watchd_alerts_ingested_total{outcome="refused"}).
    """
    committer = sink if isinstance(sink, IngestJournal) else IngestJournal(None, sink, clock=clock)

    async def _stored(parsed: Parsed) -> web.Response:
        if parsed.rejected and invalid is not None:
            invalid(parsed.rejected)
        return await _committed(committer, parsed)

    @require_scope("ingest")
    @accepts(list[PostableAlert])
    async def post_alerts(request: web.Request) -> web.Response:
        """Accept an Alertmanager API v2 alert list; 200 once it is stored."""
        # read_body enforces the app's client_max_size: a larger body raises 413 before parsing.
        body = await read_body(request)
        parsed = _parsed(
            lambda: parse_alertmanager(body, now=clock.now(), resolve_timeout=resolve_timeout)
        )
        return await _stored(parsed)

    @require_scope("ingest")
    @accepts(Event | list[Event])
    async def post_events(request: web.Request) -> web.Response:
        """Accept one event or a list of events; 200 once they are stored."""
        data = await _json_body(request)
        parsed = _parsed(lambda: parse_events(data, now=clock.now()))
        return await _stored(parsed)

    app.router.add_post("/api/v2/alerts", post_alerts)
    app.router.add_post("/api/v1/events", post_events)


async def _json_body(request: web.Request) -> Any:
    # read_body enforces the app's client_max_size: a larger body raises 413 before parsing.
    body = await read_body(request)
    try:
        return json_body(body)
    except PayloadError as exc:
        raise ApiError(400, str(exc)) from None


def _parsed(parse: Callable[[], Parsed]) -> Parsed:
    try:
        return parse()
    except PayloadError as exc:
        raise ApiError(400, str(exc)) from None


async def _committed(committer: IngestJournal, parsed: Parsed) -> web.Response:
    """Commit the valid alerts; 200 if that was all of them, else 400 naming the bad ones."""
    try:
        refused = await committer.submit(parsed.alerts)
    except StoreError:
        raise ApiError(
            503,
            "The alerts could not be stored just now; retry later (sending them again is safe).",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    if refused:
        parsed = parsed.without([(r.position, r.reason) for r in refused])
    if parsed.problems:
        raise ApiError(400, parsed.message())
    return web.Response(status=200)
