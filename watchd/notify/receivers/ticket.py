"""The ticket receiver: one ticket per incident in a ticketing system, through templated HTTP
calls (method, URL, headers, Jinja2 body) for open, update, acknowledge, resolve, close and
reopen.

Values printed into a call's URL are percent-encoded (a label holding "/", "?" or "#" stays one
path segment or query value; `| safe` prints a value as URL text on purpose), and into a
header with control characters (CR, LF, NUL) as spaces: such a byte can neither add a header
nor make every attempt fail. Bodies are the template's business: JSON bodies print values
with `| tojson`.

    no ticket id stored ─► lookup (by correlation key, if configured) ─► open ─► store the id
    ticket id known     ─► acknowledged: acknowledge (else update)
                           resolved: on_resolve "close": resolve then close (each if configured)
                                     on_resolve "comment": update; the close call waits for
                                     "closed" (the incident closed by hand)
                           reopened: reopen; without a reopen call, a new ticket is opened (a
                                     resolved or closed ticket is left as it is)
                           anything else: update

The id from the create answer is kept in the `tickets` table, so restarts and retries never
open a second ticket; the lookup covers the one gap (created, then the answer was lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from jinja2 import TemplateSyntaxError
from pydantic import Field
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.configbase import Strict
from watchd.notify.config import HttpReceiverBase
from watchd.notify.jsonpath import PathError, extract, parse_path
from watchd.notify.model import Notification, Outcome, ReceiverEnv
from watchd.notify.receivers.http import HttpClient
from watchd.notify.templates import compile_text, context, environment
from watchd.secrets import SecretRef
from watchd.store.engine import write_transaction
from watchd.store.notify_tables import tickets

OPEN_KINDS = ("opened", "reopened", "unmuted")
ACTIONS = ("open", "update", "acknowledge", "resolve", "close", "reopen", "lookup")


class TicketRequest(Strict):
    """One templated HTTP call; url, header values and body are Jinja2 templates."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1)
    headers: dict[str, str] = {}
    secret_headers: dict[str, SecretRef] = {}  # for this call only, e.g. a login token
    body: str = ""


class TicketReceiver(HttpReceiverBase):
    """A ticketing system: one ticket per incident, created once, updated and closed."""

    kind: Literal["ticket"]
    open: TicketRequest
    update: TicketRequest
    acknowledge: TicketRequest | None = None
    resolve: TicketRequest | None = None
    close: TicketRequest | None = None
    reopen: TicketRequest | None = None
    lookup: TicketRequest | None = None
    # A login call made before the others when the API needs a session (GLPI's initSession);
    # the value at `session_path` of its answer is `session` in the other templates.
    session: TicketRequest | None = None
    session_path: str = ""
    id_path: str = Field(default="id", min_length=1)
    lookup_id_path: str = ""
    correlation: str = "watchd-incident-{{ incident.id }}"
    on_resolve: Literal["close", "comment"] = "close"

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """The request templates and the correlation key must compile, the paths parse."""
        del base  # the templates are written in the config itself
        for action in ACTIONS:
            request = getattr(self, action)
            if request is None:
                continue
            texts = {"url": request.url, "body": request.body, **request.headers}
            for key, text in texts.items():
                try:
                    compile_text(text)
                except TemplateSyntaxError as exc:
                    yield f"{action}.{key}", f"template line {exc.lineno}: {exc.message}"
        for key in ("id_path", "lookup_id_path", "session_path"):
            value = getattr(self, key)
            try:
                if value:
                    parse_path(value)
            except PathError as exc:
                yield key, str(exc)
        try:
            compile_text(self.correlation)
        except TemplateSyntaxError as exc:
            yield "correlation", f"template: {exc.message}"


class TicketIds:
    """Ticket ids per (incident, receiver): in the store, or in memory for `notify test`."""

    def __init__(self, engine: AsyncEngine | None, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._memory: dict[tuple[int, str], str] = {}

    async def get(self, incident_id: int, receiver: str) -> str | None:
        if self._engine is None:
            return self._memory.get((incident_id, receiver))
        query = select(tickets.c.ticket_id).where(
            tickets.c.incident_id == incident_id, tickets.c.receiver == receiver
        )
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else str(value)

    async def put(self, incident_id: int, receiver: str, ticket_id: str) -> None:
        if self._engine is None:
            self._memory[(incident_id, receiver)] = ticket_id
            return
        now = self._clock.now()
        key = (tickets.c.incident_id == incident_id, tickets.c.receiver == receiver)
        async with write_transaction(self._engine) as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(tickets).values(
                            incident_id=incident_id,
                            receiver=receiver,
                            ticket_id=ticket_id,
                            created_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                await conn.execute(
                    update(tickets).where(*key).values(ticket_id=ticket_id, updated_at=now)
                )


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def url_value(text: str) -> str:
    """A value in a URL: percent-encoded but for "%" (a value already encoded stays as is)."""
    return quote(text, safe="%")


def header_value(text: str) -> str:
    """A value in a header: control characters, which no header may hold, as spaces."""
    return _CONTROLS.sub(" ", text)


_URL = environment(escape=url_value)
_HEADER = environment(escape=header_value)


class _Call:
    """A TicketRequest with its templates compiled."""

    def __init__(self, request: TicketRequest) -> None:
        self.method = request.method
        self.url = compile_text(request.url, env=_URL)
        self.body = compile_text(request.body) if request.body else None
        self.headers = {k: compile_text(v, env=_HEADER) for k, v in request.headers.items()}
        self.secret_headers = request.secret_headers

    def render(self, ctx: dict[str, Any]) -> tuple[str, bytes | None, dict[str, str]]:
        body = self.body.render(ctx).encode() if self.body is not None else None
        headers = {k: t.render(ctx) for k, t in self.headers.items()}
        headers |= {k: ref.reveal() for k, ref in self.secret_headers.items()}
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        return self.url.render(ctx), body, headers


class Ticket:
    kind = "ticket"
    Config = TicketReceiver
    batch = False

    def __init__(self, config: TicketReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._http = HttpClient(config, clock=env.clock, base=env.base)
        self._ids = TicketIds(env.engine, env.clock)
        self._calls = {
            action: _Call(request)
            for action in (*ACTIONS, "session")
            if (request := getattr(config, action)) is not None
        }
        self._correlation = compile_text(config.correlation)
        self._session: str | None = None

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        ctx = context(note)
        try:
            ctx["correlation"] = self._correlation.render(ctx)
            return await self._deliver(note, ctx)
        except SQLAlchemyError as exc:
            return Outcome(False, error=f"ticket id not stored: {exc}")
        except Exception as exc:
            # A ticket template has no product-neutral default to fall back on. The row is
            # retried with backoff rather than dropped: the error is in the delivery log and the
            # timeline, a corrected template (SIGHUP) delivers it in order, and max_age ends it
            # with a self-alert.
            return Outcome(False, error=f"ticket template failed: {type(exc).__name__}: {exc}")

    async def _deliver(self, note: Notification, ctx: dict[str, Any]) -> Outcome:
        ticket_id = await self._ids.get(note.incident_id, self.name)
        if ticket_id is None and "lookup" in self._calls:
            outcome, doc = await self._call("lookup", ctx)
            if not outcome.ok:
                return outcome
            path = self._config.lookup_id_path or self._config.id_path
            ticket_id = extract(doc, path)
            if ticket_id is not None:
                await self._ids.put(note.incident_id, self.name, ticket_id)
        calls = ticket_calls(self._config, note.kind, ticket=ticket_id is not None)
        if calls[:1] == ("open",):
            outcome, doc = await self._call("open", ctx)
            if not outcome.ok:
                return outcome
            ticket_id = extract(doc, self._config.id_path)
            if ticket_id is None:
                # Created, but we cannot tell which ticket: retrying would open another one.
                return Outcome(
                    False,
                    retryable=False,
                    status=outcome.status,
                    response=outcome.response,
                    error=f"no ticket id at {self._config.id_path!r} in the create answer",
                )
            await self._ids.put(note.incident_id, self.name, ticket_id)
            if note.kind in OPEN_KINDS:
                return _with(outcome, ticket_id, "open")
            calls = calls[1:]
        assert ticket_id is not None  # ticket_calls opens one when there is none
        if not calls:
            return Outcome(True, response="nothing to do", detail={"ticket_id": ticket_id})
        for action in calls:
            # Resolve then close: a failed resolve is retried before anything closes.
            outcome, _ = await self._call(action, {**ctx, "ticket_id": ticket_id})
            if not outcome.ok:
                return _with(outcome, ticket_id, action)
        return _with(outcome, ticket_id, "+".join(calls))

    async def _call(self, action: str, ctx: dict[str, Any]) -> tuple[Outcome, Any]:
        if "session" in self._calls and self._session is None:
            url, body, headers = self._calls["session"].render(ctx)
            outcome, doc = await self._http.request(
                self._calls["session"].method, url, body=body, headers=headers
            )
            if not outcome.ok:
                return outcome, None
            self._session = extract(doc, self._config.session_path or "session_token")
        url, body, headers = self._calls[action].render({**ctx, "session": self._session or ""})
        outcome, doc = await self._http.request(
            self._calls[action].method, url, body=body, headers=headers
        )
        if outcome.status == 401 and "session" in self._calls:
            self._session = None  # expired: log in again on the retry
            outcome = Outcome(False, status=401, response=outcome.response, error="session expired")
        return outcome, doc

    async def aclose(self) -> None:
        await self._http.aclose()


def ticket_calls(config: TicketReceiver, event: str, *, ticket: bool) -> tuple[str, ...]:
    """The calls, in order, a ticket receiver makes for a notification of `event` ("opened",
    "acknowledged", "resolved", …), given whether it knows the incident's ticket (its id stored,
    or found by the lookup call). The ticket's state follows from the config: a resolution
    resolved or closed it when on_resolve is "close", send_resolved is on and a resolve or close
    call is configured; else it is still open.

    "open" comes first when there is no ticket, or when a reopened incident's ticket was
    resolved or closed and there is no reopen call (some systems never reopen a closed ticket).
    """
    if not ticket or (event == "reopened" and _resolves(config) and config.reopen is None):
        return ("open",) if event in OPEN_KINDS else ("open", *_on_ticket(config, event))
    return _on_ticket(config, event)


def _on_ticket(config: TicketReceiver, event: str) -> tuple[str, ...]:
    """The calls on a known ticket for a notification of `event`."""

    def has(action: str) -> bool:
        return getattr(config, action) is not None

    if event == "acknowledged":
        return ("acknowledge",) if has("acknowledge") else ("update",)
    if event == "resolved":
        closing = tuple(a for a in ("resolve", "close") if has(a))
        if config.on_resolve == "comment" or not closing:
            return ("update",)
        return closing
    if event == "closed":
        # A ticket the resolution resolved or closed is done; else the close call is due.
        return ("close",) if has("close") and not _resolves(config) else ()
    if event == "reopened" and has("reopen") and _resolves(config):
        return ("reopen",)
    return ("update",)


def _resolves(config: TicketReceiver) -> bool:
    """Whether the incident's resolution resolved or closed its ticket."""
    closing = config.resolve is not None or config.close is not None
    return config.on_resolve == "close" and config.send_resolved and closing


def _with(outcome: Outcome, ticket_id: str, action: str) -> Outcome:
    detail = {**outcome.detail, "ticket_id": ticket_id, "ticket_action": action}
    return Outcome(
        outcome.ok,
        retryable=outcome.retryable,
        status=outcome.status,
        response=outcome.response,
        error=outcome.error,
        retry_after=outcome.retry_after,
        notes=outcome.notes,
        detail=detail,
    )
