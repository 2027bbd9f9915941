"""Acknowledge links from notifications (watchd/notify/acklinks.py).

    GET  /ack/{token}   public: a small page naming the incident, with one button
    POST /ack/{token}   public: acknowledges the incident, shows the confirmation

The token is the authorization (HMAC-signed incident id, expiry and recipient, compared in
constant time); GET changes nothing, because link previews and mail scanners open links on their
own. The acknowledgement is recorded as by the link's recipient; a link sent to a team or channel
(no address signed in) asks for the name of whoever presses the button ("alice via ack link to
ops-chat"). A forged, altered or expired link gets a 403 page saying so and what to do instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiohttp import web

from watchd.api.auth import public
from watchd.api.inputs import form_body
from watchd.clock import Clock
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.lifecycle import TransitionError
from watchd.notify.acklinks import AckClaim, AckLinkError, verify_token
from watchd.pipeline.actions import IncidentService

SERVICE = web.AppKey("watchd.ack.service", IncidentService)
KEY: web.AppKey[Callable[[], bytes | None]] = web.AppKey("watchd.ack.key")
CLOCK = web.AppKey("watchd.ack.clock", Clock)

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Cache-Control": "no-store",
    # Not no-referrer: with it, browsers send "Origin: null" on the page's own POST.
    "Referrer-Policy": "same-origin",
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:30em;margin:2em auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    # backslashreplace: a lone surrogate in a stored title shows escaped instead of failing.
    return web.Response(
        body=text.encode("utf-8", "backslashreplace"),
        content_type="text/html",
        charset="utf-8",
        status=status,
        headers=_HEADERS,
    )


def _claim(request: web.Request) -> AckClaim | web.Response:
    key = request.app[KEY]()
    if key is None:
        return _off()
    try:
        return verify_token(key, request.match_info["token"], request.app[CLOCK].now())
    except AckLinkError as exc:
        return _refused(exc)


def _off() -> web.Response:
    return _page("Acknowledge links are off", "<p>This watchd has no ack link key.</p>", 404)


def _refused(exc: AckLinkError) -> web.Response:
    return _page("Link not valid", _REFUSED.get(exc.reason, _REFUSED["malformed"]), 403)


_ALTERNATIVE = '<p>Acknowledge the incident on the <a href="/">dashboard</a> instead.</p>'
_REFUSED = {
    reason: f"<p>{html.escape(text)}</p>{_ALTERNATIVE}"
    for reason, text in {
        "malformed": "This acknowledge link is incomplete or garbled (cut short when copied?). "
        "Nothing was acknowledged.",
        "bad signature": "This acknowledge link was not signed by this watchd, or was altered "
        "after it was sent. Nothing was acknowledged.",
        "expired": "This acknowledge link has expired. Nothing was acknowledged.",
    }.items()
}
_NAME_LIMIT = 64


def _typed_name(value: object) -> str:
    """The name typed into the page, on one line and at most _NAME_LIMIT characters."""
    return " ".join(str(value or "").split())[:_NAME_LIMIT]


@public
async def confirm(request: web.Request) -> web.Response:
    claim = _claim(request)
    if isinstance(claim, web.Response):
        return claim
    try:
        incident = await request.app[SERVICE].get_incident(claim.incident_id)
    except IncidentNotFound:
        return _page("No such incident", "<p>The incident does not exist any more.</p>", 404)
    title = html.escape(str(incident["title"]))
    return _page(
        f"Incident {claim.incident_id}",
        f"<p>[{html.escape(str(incident['severity']))}] {title} is "
        f"<b>{html.escape(str(incident['state']))}</b>.</p>"
        f'<form method="post">{_name_field(claim)}<button type="submit">Acknowledge</button></form>',
    )


def _name_field(claim: AckClaim) -> str:
    """A name field when the link names no person (sent to a team or channel)."""
    if claim.recipient is not None and claim.recipient.address:
        return f"<p>You are acknowledging as {html.escape(claim.actor())}.</p>"
    return (
        '<p><label>Your name <input name="name" autocomplete="name" '
        f'maxlength="{_NAME_LIMIT}"></label></p>'
    )


def _actor(claim: AckClaim, typed: str) -> str:
    """The link's recipient, with the name typed on the page when the link names no person."""
    if typed and (claim.recipient is None or not claim.recipient.address):
        return f"{typed} via {claim.actor()}"
    return claim.actor()


async def acknowledge_by_link(
    service: IncidentService, key: bytes, token: str, now: float, typed: str = ""
) -> tuple[AckClaim, dict[str, Any]]:
    """Verify an ack link's token and acknowledge its incident as the link's recipient (with
    `typed`, the name typed on its page, when the link names no person): what POST /ack/ does,
    without HTTP, so `watchd test-paging` acknowledges through the same path. Raises
    AckLinkError, IncidentNotFound or TransitionError."""
    claim = verify_token(key, token, now)
    incident = await service.acknowledge(
        claim.incident_id,
        _actor(claim, _typed_name(typed)),
        "acknowledged from a notification link",
    )
    return claim, incident


@public
async def acknowledge(request: web.Request) -> web.Response:
    key = request.app[KEY]()
    if key is None:
        return _off()
    typed = (await form_body(request)).get("name")
    try:
        claim, incident = await acknowledge_by_link(
            request.app[SERVICE],
            key,
            request.match_info["token"],
            request.app[CLOCK].now(),
            str(typed or ""),
        )
    except AckLinkError as exc:
        return _refused(exc)
    except IncidentNotFound:
        return _page("No such incident", "<p>The incident does not exist any more.</p>", 404)
    except TransitionError as exc:
        return _page("Nothing to acknowledge", f"<p>{html.escape(str(exc))}</p>", 409)
    return _page(
        "Acknowledged",
        f"<p>Incident {claim.incident_id} ({html.escape(str(incident['title']))}) "
        "is acknowledged; escalation stops.</p>",
    )


def add_routes(
    app: web.Application, *, service: IncidentService, key: Callable[[], bytes | None], clock: Clock
) -> None:
    """`key` returns the current HMAC key (None when ack links are not configured)."""
    app[SERVICE] = service
    app[KEY] = key
    app[CLOCK] = clock
    app.router.add_get("/ack/{token}", confirm)
    app.router.add_post("/ack/{token}", acknowledge)
