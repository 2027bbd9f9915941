"""Acknowledge links from notifications (watchd/notify/acklinks.py).

    GET  /ack/{token}   public: a small page naming the incident, with one button
    POST /ack/{token}   public: acknowledges the incident, shows the confirmation

The token is the authorization (HMAC-signed incident id, expiry and recipient, compared in
constant time); GET changes nothing, because link previews and mail scanners open links on their
own. The acknowledgement is recorded as by the link's recipient; a link sent to a team or channel
(no address signed in) asks for the name of whoever presses the button ("alice via ack link to
ops-chat"). A forged, altered or expired link gets a 403 page saying so and what to do instead.
The pages are in the reader's language (Accept-Language, else `[daemon] locale`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiohttp import web

from watchd.api.auth import public
from watchd.api.inputs import form_body
from watchd.api.language import page_locale
from watchd.clock import Clock
from watchd.i18n import N_, html_lang, translations
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.lifecycle import TransitionError
from watchd.notify.acklinks import AckClaim, AckLinkError, verify_token
from watchd.page_templates import WORDS
from watchd.pipeline.actions import IncidentService

SERVICE = web.AppKey("watchd.ack.service", IncidentService)
KEY: web.AppKey[Callable[[], bytes | None]] = web.AppKey("watchd.ack.key")
CLOCK = web.AppKey("watchd.ack.clock", Clock)
LOCALE: web.AppKey[Callable[[], str]] = web.AppKey("watchd.ack.locale")

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Cache-Control": "no-store",
    # Not no-referrer: with it, browsers send "Origin: null" on the page's own POST.
    "Referrer-Policy": "same-origin",
}


def _locale(request: web.Request) -> str:
    return page_locale(request, user=None, default=request.app[LOCALE]())


def _page(request: web.Request, title: str, body: str, status: int = 200) -> web.Response:
    """A page titled `title` (already in the reader's language) around `body` (HTML)."""
    locale = _locale(request)
    text = (
        f'<!doctype html><html lang="{html_lang(locale)}"><head><meta charset=utf-8>'
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
        headers={**_HEADERS, "Content-Language": html_lang(locale), "Vary": "Accept-Language"},
    )


def _say(request: web.Request, message: str, **values: str) -> str:
    """`message` in the reader's language with `values` put in, escaped for HTML."""
    text = translations(_locale(request)).gettext(message)
    return text % {k: html.escape(v) for k, v in values.items()} if values else text


def _claim(request: web.Request) -> AckClaim | web.Response:
    key = request.app[KEY]()
    if key is None:
        return _off(request)
    try:
        return verify_token(key, request.match_info["token"], request.app[CLOCK].now())
    except AckLinkError as exc:
        return _refused(request, exc)


def _off(request: web.Request) -> web.Response:
    body = f"<p>{_say(request, _NO_KEY)}</p>"
    return _page(request, _say(request, N_("Acknowledge links are off")), body, 404)


def _refused(request: web.Request, exc: AckLinkError) -> web.Response:
    reason = _say(request, _REFUSED.get(exc.reason, _REFUSED["malformed"]))
    body = f"<p>{html.escape(reason)}</p><p>{_say(request, _ALTERNATIVE)}</p>"
    return _page(request, _say(request, N_("Link not valid")), body, 403)


def _gone(request: web.Request) -> web.Response:
    body = f"<p>{_say(request, _GONE)}</p>"
    return _page(request, _say(request, N_("No such incident")), body, 404)


_NO_KEY = N_("This watchd has no ack link key.")
_GONE = N_("The incident does not exist any more.")
_ALTERNATIVE = N_('Acknowledge the incident on the <a href="/">dashboard</a> instead.')
_REFUSED = {
    "malformed": N_(
        "This acknowledge link is incomplete or garbled (cut short when copied?). "
        "Nothing was acknowledged."
    ),
    "bad signature": N_(
        "This acknowledge link was not signed by this watchd, or was altered after it was "
        "sent. Nothing was acknowledged."
    ),
    "expired": N_("This acknowledge link has expired. Nothing was acknowledged."),
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
        return _gone(request)
    words = translations(_locale(request))
    state = WORDS.get(str(incident["state"]))
    sentence = _say(
        request,
        N_("[%(severity)s] %(title)s is <b>%(state)s</b>."),
        severity=str(incident["severity"]),
        title=str(incident["title"]),
        state=words.gettext(state) if state else str(incident["state"]),
    )
    button = _say(request, N_("Acknowledge"))
    return _page(
        request,
        _say(request, N_("Incident %(id)s"), id=str(claim.incident_id)),
        f'<p>{sentence}</p><form method="post">{_name_field(request, claim)}'
        f'<button type="submit">{button}</button></form>',
    )


def _name_field(request: web.Request, claim: AckClaim) -> str:
    """A name field when the link names no person (sent to a team or channel)."""
    if claim.recipient is not None and claim.recipient.address:
        who = _say(request, N_("You are acknowledging as %(name)s."), name=claim.actor())
        return f"<p>{who}</p>"
    return (
        f'<p><label>{_say(request, _YOUR_NAME)} <input name="name" autocomplete="name" '
        f'maxlength="{_NAME_LIMIT}"></label></p>'
    )


_YOUR_NAME = N_("Your name")


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
        return _off(request)
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
        return _refused(request, exc)
    except IncidentNotFound:
        return _gone(request)
    except TransitionError as exc:
        title = _say(request, N_("Nothing to acknowledge"))
        return _page(request, title, f"<p>{html.escape(str(exc))}</p>", 409)
    done = _say(
        request,
        N_("Incident %(id)s (%(title)s) is acknowledged; escalation stops."),
        id=str(claim.incident_id),
        title=str(incident["title"]),
    )
    return _page(request, _say(request, N_("Acknowledged")), f"<p>{done}</p>")


def add_routes(
    app: web.Application,
    *,
    service: IncidentService,
    key: Callable[[], bytes | None],
    clock: Clock,
    locale: Callable[[], str] = lambda: "en",
) -> None:
    """`key` returns the current HMAC key (None when ack links are not configured); `locale`
    the language for readers whose browser asks for none watchd has (`[daemon] locale`)."""
    app[SERVICE] = service
    app[KEY] = key
    app[CLOCK] = clock
    app[LOCALE] = locale
    app.router.add_get("/ack/{token}", confirm)
    app.router.add_post("/ack/{token}", acknowledge)
