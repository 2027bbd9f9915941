"""HTTP ingestion: the Alertmanager API v2 alert endpoint and generic events.

    POST /api/v2/alerts   Alertmanager "postableAlerts", as Prometheus sends them
    POST /api/v1/events   one generic event or a list of them

Both need the `ingest` scope. A 200 (empty body, like Alertmanager) is sent only after the
sink has durably committed every alert of the request: a sender that got 200 may forget
them. A bad alert is refused alone, as Alertmanager does: the others of its request are
stored, then the answer is 400 naming each bad alert and field (and how many were stored). A
store that cannot commit just now gets 503 with Retry-After, so the sender retries and nothing
is lost; an alert the store refuses for what it holds is never reported as such an outage.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from watchd.api import ApiError, require_scope
from watchd.api.inputs import read_body
from watchd.api.openapi import accepts
from watchd.clock import Clock
from watchd.failures import FailureLog
from watchd.ingest.payloads import (
    Event,
    Parsed,
    PayloadError,
    PostableAlert,
    json_body,
    parse_alertmanager,
    parse_events,
)
from watchd.logging import get_logger
from watchd.model import Alert, AlertSink
from watchd.pipeline.isolate import Refused, submit_isolating
from watchd.store import StoreError

log = get_logger("watchd.api.ingest")

RETRY_AFTER_SECONDS = 5
MAX_GROUP_ALERTS = 5_000  # alerts committed in one transaction at most (one request may exceed it)


def add_routes(
    app: web.Application,
    *,
    sink: AlertSink,
    clock: Clock,
    resolve_timeout: float = 300.0,
    invalid: Callable[[int], None] | None = None,
) -> None:
    """Add POST /api/v2/alerts and POST /api/v1/events to `app`, submitting to `sink`.

    `resolve_timeout` is how long an Alertmanager alert without endsAt stays firing unless
    it is sent again; `invalid` is told how many alerts of a request were refused as invalid
    (watchd_alerts_ingested_total{outcome="refused"}).
    """
    committer = _Committer(sink)

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


async def _committed(committer: _Committer, parsed: Parsed) -> web.Response:
    """Commit the valid alerts; 200 if that was all of them, else 400 naming the bad ones."""
    refused = await committer.submit(parsed.alerts)
    if refused:
        parsed = parsed.without([(r.position, r.reason) for r in refused])
    if parsed.problems:
        raise ApiError(400, parsed.message())
    return web.Response(status=200)


class _Committer:
    """Group commit: requests that arrive while a commit runs are stored together next.

    SQLite has one writer at a time; eight requests each committing on their own would wait
    for each other's locks. One task commits everything pending as one batch, then wakes
    each request with its outcome, so a 200 still means "this request's alerts are
    committed". A store that cannot commit becomes 503 + Retry-After for the requests of
    that batch; it is logged when it starts refusing and when it accepts again. A batch that
    fails for another reason is split (watchd.pipeline.isolate) until only the alerts that
    fail alone do: the store refusing one is a 400 naming it, the pipeline failing on one a
    500 for its request only; every other alert is stored.
    """

    def __init__(self, sink: AlertSink, max_batch: int = MAX_GROUP_ALERTS) -> None:
        self._sink = sink
        self._max_batch = max_batch
        self._pending: deque[tuple[tuple[Alert, ...], asyncio.Future[list[Refused]]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._failures = FailureLog(
            log, failing="ingest_store_refused", recovered="ingest_store_accepting_again"
        )

    async def submit(self, alerts: tuple[Alert, ...]) -> list[Refused]:
        """Commit `alerts`; return those the store refused alone (by position), in order."""
        if not alerts:
            return []
        done: asyncio.Future[list[Refused]] = asyncio.get_running_loop().create_future()
        # A request cancelled while waiting must not leave an unread exception behind.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending.append((alerts, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="watchd.ingest-commit")
        try:
            # Shielded: a client that goes away does not stop the commit of its alerts.
            return await asyncio.shield(done)
        except StoreError:
            raise ApiError(
                503,
                "The alerts could not be stored just now; retry later (sending them again is safe).",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None

    async def _flush(self) -> None:
        while self._pending:
            group = [self._pending.popleft()]
            size = len(group[0][0])
            while self._pending and size + len(self._pending[0][0]) <= self._max_batch:
                group.append(self._pending.popleft())
                size += len(group[-1][0])
            try:
                refused = await submit_isolating(
                    self._sink, tuple(a for alerts, _ in group for a in alerts)
                )
            except Exception as exc:  # a store outage: every request of the batch gets 503
                self._refused(exc)
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self._failures.recovered()
            start = 0
            for alerts, done in group:
                end = start + len(alerts)
                mine = [
                    Refused(r.position - start, r.error)
                    for r in refused
                    if start <= r.position < end
                ]
                start = end
                if not done.done():
                    _answer(done, mine)

    def _refused(self, exc: Exception) -> None:
        if not isinstance(exc, StoreError):
            return  # a fault of the pipeline: the handler answers 500 and logs it
        self._failures.failed(
            operation=exc.operation, reason=exc.reason, note="senders get 503 and retry"
        )


def _answer(done: asyncio.Future[list[Refused]], refused: list[Refused]) -> None:
    """Wake one request: its refused alerts (400), or the pipeline's fault (500)."""
    for r in refused:
        if not isinstance(r.error, StoreError):
            done.set_exception(r.error)  # the error middleware logs it with its traceback
            return
    for r in refused:
        log.warning("ingest_alert_refused", reason=r.reason, note="the sender gets 400 naming it")
    done.set_result(refused)
