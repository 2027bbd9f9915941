"""The web dashboard: server-rendered pages (Jinja2, inline CSS, no build step), phone-sized.

    GET /                 open incidents (ack/resolve buttons; filter, sort and search kept
                          in the address, watchd.api.dashboard_filters), service
                          availability this month, checks not OK, the cluster's nodes
    GET /history          resolved and closed incidents, paged, by the period they opened in
    GET /fragments/incidents  the incident list alone: the pages poll it while visible
    GET /incidents/{id}   one incident with its alerts and timeline
    GET /items            items and their check states
    GET /silences         active silences (create, extend, expire), maintenance windows and
                          changes in effect
    GET /problems, /changes and one of each: watchd.api.work_pages
    GET /services/{name}  one service: watchd.api.service_pages
    GET /login            the sign-in form
    POST /login           user name and password, or a token → cookie (below)
    POST /logout          ends the session

Authentication. With no tokens configured, pages and buttons need nothing (the default config
listens on 127.0.0.1 only). With tokens, a browser cannot send a bearer header when it
navigates, so pages accept a cookie instead: a read-scoped token typed once into the sign-in
form (POST /login) starts a 12-hour session: an HttpOnly, SameSite=Strict cookie, Secure when
the browser came over TLS (directly or through a proxy in `[api] trusted_proxies`), holding its
expiry signed with the token, never the token itself. A token in the address
(`?token=`) is not taken: addresses are kept in browser history and proxy logs, and a link
could sign a browser in as someone else; such a link is sent to the sign-in form with the token
removed. The cookie is honoured by these pages only; the REST API still takes bearer tokens
alone. The ack/resolve buttons call the REST API with the write token typed once into the
page's field and kept in the browser's localStorage.

A user with a password (`[[users]] password_hash` or `password_file`) signs in with their name
and password instead (watchd.api.accounts: throttled failures, a session cookie naming them);
the buttons then act as that person through the session (watchd.api.auth, X-Watchd-Session),
and the timeline records "Alice Li (alice)". Cross-origin POSTs, /login included, are
refused by watchd.api.origin. Every page is sent with a strict Content-Security-Policy: scripts
only with the page's nonce.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection
from yarl import URL

from watchd.api import keys
from watchd.api.accounts import PasswordChecks, SignInLimiter, UserSessions
from watchd.api.auth import SESSIONS, TokenTable, public
from watchd.api.cluster import ClusterSource
from watchd.api.dashboard_filters import HISTORY, OPEN, SEVERITIES, STATES, parse_filters
from watchd.api.inputs import form_body, found_by_path_id
from watchd.api.language import page_locale, vary_on_language
from watchd.api.origin import POLICY
from watchd.api.pages import Pager, page_of
from watchd.api.reports import ReportSource
from watchd.durations import format_duration
from watchd.i18n import html_lang
from watchd.incidents.ledger import IncidentNotFound
from watchd.logging import get_logger
from watchd.page_templates import localised_environment
from watchd.people.passwords import Account
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.incident_query import ORDERS
from watchd.report.catalog import Key
from watchd.report.combine import query_keys, service_total
from watchd.report.config import ServiceConfig
from watchd.report.metrics import figures
from watchd.report.period import Period
from watchd.report.query import tallies
from watchd.runbooks import runbook_urls
from watchd.store.series import series_ids

log = get_logger(__name__)
COOKIE = "watchd_session"
SESSION_SECONDS = 12 * 3600
UNKNOWN_USER = "unknown user"  # how the sign-in log names a typed name that is nobody's
_USER_LIMIT = 64  # characters of a typed user name
_BUSY_WAIT = 5  # seconds a sign-in turned away while others are checked is asked to wait
_PASSWORD_LIMIT = 1024  # characters of a typed password (Argon2 takes any length: bound the work)


@cache
def _env(locale: str, zone: str) -> jinja2.Environment:
    """The dashboard's templates in `locale` with times in `zone` ([daemon] timezone, the zone
    the history's days are in; watchd.page_templates), built once per pair."""
    env = localised_environment("watchd.api", locale, zone=zone)
    env.globals.update(states=STATES, severities=SEVERITIES, orders=ORDERS)
    env.filters["runbooks"] = lambda alerts: runbook_urls(
        a.get("annotations") or {} for a in alerts
    )
    return env


def _no_accounts() -> Mapping[str, Account]:
    return {}


@dataclass(frozen=True, slots=True)
class Dashboard:
    incidents: IncidentService
    reports: ReportSource
    tokens: TokenTable
    cluster: ClusterSource | None = None
    accounts: Callable[[], Mapping[str, Account]] = _no_accounts
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    checks: PasswordChecks = field(default_factory=PasswordChecks)
    sessions: UserSessions = field(default_factory=lambda: UserSessions(SESSION_SECONDS))

    def person(self, request: web.Request) -> Account | None:
        """The user signed in with a password in this browser, or None."""
        return self.sessions.read(
            request.cookies.get(COOKIE), self.accounts(), self.reports.clock.now()
        )

    def locale(self, request: web.Request, person: Account | None) -> str:
        """The language of `request`'s page: `person`'s own, the browser's, the daemon's."""
        user = person.locale if person is not None else None
        return page_locale(request, user=user, default=self.reports.catalog().locale)


DASHBOARD = web.AppKey("watchd.dashboard", Dashboard)


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    dash = request.app[DASHBOARD]
    person = dash.person(request)
    locale = dash.locale(request, person)
    text = (
        _env(locale, dash.reports.catalog().timezone)
        .get_template(template)
        .render(
            nonce=nonce,
            auth=dash.tokens.enabled,
            accounts=bool(dash.accounts()),
            person=person.label if person is not None else None,
            **context,
        )
    )
    # A lone surrogate stored before text was checked (from the CLI's argv, say) cannot be
    # UTF-8: it is shown escaped (\udc80) rather than failing the page.
    body = text.encode("utf-8", "backslashreplace")
    response = web.Response(body=body, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not no-referrer: with it, browsers send "Origin: null" on the page's own POSTs.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    _language_headers(response, locale)
    return response


def _language_headers(response: web.StreamResponse, locale: str) -> None:
    response.headers["Content-Language"] = html_lang(locale)
    vary_on_language(response)


def _can_read(table: TokenTable, token: str | None) -> bool:
    scopes = table.scopes(token) if token else None
    return scopes is not None and "read" in scopes


def _session_message(expires: int) -> str:
    return f"watchd-session:{expires}"


def _session(table: TokenTable, token: str, now: float) -> str:
    """A session cookie value: its expiry and an HMAC of it keyed by the token. It never holds
    the token (a stolen cookie cannot call the API), ends after SESSION_SECONDS whatever the
    browser does, and ends when the token is removed from the config."""
    expires = int(now) + SESSION_SECONDS
    return f"{expires}.{table.sign(token, _session_message(expires))}"


def _session_reads(table: TokenTable, cookie: str | None, now: float) -> bool:
    """Whether `cookie` is a running session of a token with the read scope."""
    expires, _, mac = (cookie or "").partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        return False
    if not now < int(expires) <= now + SESSION_SECONDS:
        return False
    scopes = table.signed_by(_session_message(int(expires)), mac)
    return scopes is not None and "read" in scopes


def _set_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.app[POLICY].secure(request),
        path="/",
        max_age=SESSION_SECONDS,
    )


async def _guard(request: web.Request) -> web.Response | None:
    """None when the page may be shown; otherwise the response to send instead."""
    table = request.app[DASHBOARD].tokens
    if not table.enabled:
        return None
    if "token" in request.query:
        # Not taken (see the module docstring): off to the sign-in form, token dropped.
        rest = {k: v for k, v in request.query.items() if k != "token"}
        target = request.path + (f"?{urlencode(rest)}" if rest else "")
        raise web.HTTPSeeOther("/login?" + urlencode({"next": target, "notice": "url-token"}))
    if _session_reads(
        table, request.cookies.get(COOKIE), request.app[DASHBOARD].reports.clock.now()
    ) or request.app[DASHBOARD].person(request):
        return None
    return _sign_in(request, request.path_qs, status=401)


def _sign_in(
    request: web.Request,
    target: str,
    *,
    status: int,
    failed: bool = False,
    notice: str = "",
    wait: int = 0,
    busy: bool = False,
) -> web.Response:
    response = _page(
        request,
        "login.html",
        status,
        next=target,
        failed=failed,
        url_token=notice == "url-token",
        wait=wait,
        busy=busy,
    )
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def _local_path(target: str) -> bool:
    """A path on this server; browsers read "/\\host" like "//host", so backslashes and control
    characters are refused too."""
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 for c in target)
    )


def _next(value: object) -> str:
    target = str(value or "/")
    return target if _local_path(target) else "/"  # only paths on this server: no open redirect


@public
async def sign_in_form(request: web.Request) -> web.Response:
    return _sign_in(
        request,
        _next(request.query.get("next")),
        status=200,
        notice=request.query.get("notice", ""),
    )


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await form_body(request)
    target = _next(form.get("next"))
    dash = request.app[DASHBOARD]
    if form.get("user"):
        user = str(form["user"]).strip()[:_USER_LIMIT]
        account = await _password_sign_in(request, user, str(form.get("password", "")), target)
        if isinstance(account, web.Response):
            return account
        value = dash.sessions.issue(account, dash.reports.clock.now())
    else:
        token = str(form.get("token", ""))
        if not _can_read(dash.tokens, token):
            return _sign_in(request, target, status=401, failed=True)
        value = _session(dash.tokens, token, dash.reports.clock.now())
    redirect = web.HTTPSeeOther(target)
    _set_cookie(redirect, request, value)
    raise redirect


async def _password_sign_in(
    request: web.Request, user: str, password: str, target: str
) -> Account | web.Response:
    """The account whose password was typed, or the sign-in page saying why not (401, or 429
    while failures for the name or the address are over the limit or too many sign-ins are
    being checked at once)."""
    dash = request.app[DASHBOARD]
    address = request.app[POLICY].client(request)
    now = dash.reports.clock.now()
    account = dash.accounts().get(user)
    # The log names a typed name only when it is a user's: a password typed into the name
    # field (a slip of the Tab key) must not reach the log.
    named = user if account is not None else UNKNOWN_USER
    wait = dash.limiter.wait(user, address, now)
    if wait > 0:
        log.warning("sign_in_throttled", user=named, address=address)
        return _sign_in(request, target, status=429, wait=math.ceil(wait))
    hashed = account.password_hash if account is not None else None
    typed = password[:_PASSWORD_LIMIT]
    good = await dash.checks.verify(hashed, typed)
    if good is None:
        log.warning("sign_in_busy", user=named, address=address)
        return _sign_in(request, target, status=429, wait=_BUSY_WAIT, busy=True)
    if account is None or not good or typed != password:
        dash.limiter.failed(user, address, now)
        log.warning("sign_in_failed", user=named, address=address)
        return _sign_in(request, target, status=401, failed=True)
    dash.limiter.succeeded(user)
    log.info("signed_in", user=user, address=address)
    return account


@public
async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session (the cookie is dropped; its value stays valid until it
    expires only for whoever copied it, as with any bearer cookie)."""
    redirect = web.HTTPSeeOther("/login")
    redirect.del_cookie(COOKIE, path="/")
    raise redirect


@public
async def index(request: web.Request) -> web.Response:
    if (denied := await _guard(request)) is not None:
        return denied
    dash = request.app[DASHBOARD]
    items = request.app[keys.ITEMS]()
    failing = [
        (item, check)
        for item in items
        for check in item.get("checks", [])
        if check.get("status") not in ("OK", "PENDING", None)
    ]
    return _page(
        request,
        "index.html",
        **await _incident_list(request, OPEN),
        services=await _service_availability(dash.reports),
        failing=failing,
        cluster=await dash.cluster() if dash.cluster is not None else None,
    )


@public
async def history(request: web.Request) -> web.Response:
    """Resolved and closed incidents (any state by the filter), by the period they opened in."""
    if (denied := await _guard(request)) is not None:
        return denied
    return _page(request, "history.html", **await _incident_list(request, HISTORY))


@public
async def incident_rows(request: web.Request) -> web.Response:
    """The incident list alone, for the page's refresh (GET /fragments/incidents?view=open or
    view=history with the page's filters): the page polls it while it is visible, so a daemon
    nobody watches does no work for the dashboard."""
    if (denied := await _guard(request)) is not None:
        return denied
    default = HISTORY if request.query.get("view") == "history" else OPEN
    dash = request.app[DASHBOARD]
    locale = dash.locale(request, dash.person(request))
    template = _env(locale, dash.reports.catalog().timezone).get_template("_incidents.html")
    text = template.render(**await _incident_list(request, default))
    response = web.Response(
        body=text.encode("utf-8", "backslashreplace"), content_type="text/html", charset="utf-8"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    _language_headers(response, locale)
    return response


async def _incident_list(request: web.Request, default: tuple[str, ...]) -> dict[str, Any]:
    """One page of the incidents the address's filters pick, and the filter form's state."""
    dash = request.app[DASHBOARD]
    filters = parse_filters(request.query, dash.reports.catalog(), default_state=default)
    page = page_of(request)
    listed = await dash.incidents.incidents_page(where=filters.query, page=page)
    view = "history" if default == HISTORY else "open"
    live = {k: v for k, v in filters.values.items() if v}
    # The pager links to the page itself, also when the fragment is asked for.
    shown = URL("/history" if view == "history" else "/").with_query({**live, **_paging(request)})
    return {
        "incidents": listed.items,
        "pager": Pager.of(request, listed, page, url=shown),
        "filters": filters,
        "view": view,
        "live": "/fragments/incidents?" + urlencode({"view": view, **live, **_paging(request)}),
    }


def _paging(request: web.Request) -> dict[str, str]:
    return {k: request.query[k] for k in ("limit", "offset") if k in request.query}


async def _service_availability(source: ReportSource) -> list[dict[str, Any]]:
    catalog = source.catalog()
    if not catalog.services:
        return []
    async with source.engine.connect() as conn:
        known = list(await series_ids(conn))
        return [await service_month(conn, source, s, known) for s in catalog.services]


async def service_month(
    conn: AsyncConnection, source: ReportSource, service: ServiceConfig, known: Sequence[Key]
) -> dict[str, Any]:
    """`service`'s availability this month (local month of `[daemon] timezone`, up to now) by
    its rule and maintenance policy, as the front page's table shows it; `known` are the
    store's series (watchd.store.series.series_ids)."""
    catalog = source.catalog()
    now = source.clock.now()
    month = Period.this_month(now, catalog.timezone)
    members = catalog.members(service, known)
    found = await tallies(
        conn, catalog, month.start, month.end, now=now, keys=query_keys(service, members)
    )
    tally, n = service_total(service, found, members)
    shown = figures(tally, catalog.policy(service), members=n) if found else None
    pct = shown["availability_percent"] if shown else None
    return {
        "name": service.name,
        "availability": pct,
        "met": pct is not None and pct >= service.objective,
        "objective": service.objective,
        "unmonitored": format_duration(shown["seconds"]["unmonitored"]) if shown else "-",
    }


@public
async def incident(request: web.Request) -> web.Response:
    if (denied := await _guard(request)) is not None:
        return denied
    incidents = request.app[DASHBOARD].incidents
    _, found = await found_by_path_id(request, "incident", incidents.get_incident, IncidentNotFound)
    return _page(request, "incident.html", incident=found)


@public
async def items(request: web.Request) -> web.Response:
    if (denied := await _guard(request)) is not None:
        return denied
    return _page(request, "items.html", items=request.app[keys.ITEMS]())


@public
async def silences(request: web.Request) -> web.Response:
    if (denied := await _guard(request)) is not None:
        return denied
    dash = request.app[DASHBOARD]
    now = dash.reports.clock.now()
    windows: list[dict[str, Any]] = [
        {
            "name": w.name,
            "scope": ", ".join([*w.items, *w.matchers]),
            "until": w.end.timestamp() if w.end is not None else None,
        }
        for w in dash.reports.catalog().windows
        if w.active(now)
    ]
    page = page_of(request)
    silences = await dash.incidents.silences_page(page=page)
    for change in await dash.incidents.changes():
        if change["starts_at"] <= now < change["ends_at"]:
            windows.append(
                {
                    "name": change["summary"],
                    "change": change["id"],
                    "scope": change["item"],
                    "until": change["ends_at"],
                }
            )
    return _page(
        request,
        "silences.html",
        silences=silences.items,
        pager=Pager.of(request, silences, page),
        windows=windows,
    )


def add_routes(
    app: web.Application,
    *,
    incidents: IncidentService,
    reports: ReportSource,
    tokens: Mapping[str, frozenset[str]],
    cluster: ClusterSource | None = None,
    accounts: Callable[[], Mapping[str, Account]] = _no_accounts,
    session_key: str | None = None,
) -> None:
    """Add the dashboard pages to an app from watchd.api.create_app (same `tokens`); with
    `cluster` (what GET /api/v1/cluster answers) the index shows the cluster's panel;
    `accounts` returns the users who may sign in with a password (as of the last reload),
    whose sessions `session_key` signs (None: a random key of this process)."""
    dash = Dashboard(
        incidents,
        reports,
        TokenTable(tokens),
        cluster,
        accounts,
        sessions=UserSessions(SESSION_SECONDS, session_key),
    )
    app[DASHBOARD] = dash
    app[SESSIONS] = lambda request: p.label if (p := dash.person(request)) else None
    app.router.add_get("/", index)
    app.router.add_get("/history", history)
    app.router.add_get("/fragments/incidents", incident_rows)
    app.router.add_get("/incidents/{id}", incident)
    app.router.add_get("/items", items)
    app.router.add_get("/silences", silences)
    app.router.add_get("/login", sign_in_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
