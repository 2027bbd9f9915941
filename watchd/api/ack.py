"""Acknowledge links from notifications (watchd/notify/acklinks.py).

    GET  /ack/{token}   public: a small page naming the incident, with one button
    POST /ack/{token}   public: acknowledges the incident, shows the confirmation

The token is the authorization (HMAC-signed incident id and expiry, compared in constant
time); GET changes nothing, because link previews and mail scanners open links on their own.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from aiohttp import web

from watchd.api.auth import public
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
    "Referrer-Policy": "no-referrer",
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:30em;margin:2em auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=text, content_type="text/html", status=status, headers=_HEADERS)


def _claim(request: web.Request) -> AckClaim | web.Response:
    key = request.app[KEY]()
    if key is None:
        return _page("Acknowledge links are off", "<p>This watchd has no ack link key.</p>", 404)
    try:
        return verify_token(key, request.match_info["token"], request.app[CLOCK].now())
    except AckLinkError as exc:
        return _page("Link not valid", f"<p>{html.escape(str(exc))}</p>", 403)


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
        '<form method="post"><button type="submit">Acknowledge</button></form>',
    )


@public
async def acknowledge(request: web.Request) -> web.Response:
    claim = _claim(request)
    if isinstance(claim, web.Response):
        return claim
    try:
        incident = await request.app[SERVICE].acknowledge(
            claim.incident_id, "ack-link", "acknowledged from a notification link"
        )
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
