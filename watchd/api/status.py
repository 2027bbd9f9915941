"""Status pages: a public, read-only page per `[[status_pages]]` entry (watchd.api.status_config).

    GET /status/{name}              the page: each service's state, 90 days of daily
                                    availability as a bar strip, ongoing incidents
    GET /status/{name}/status.json  the same as JSON, for other tools

Nothing is served for a name that is not configured (404). A page with `public = true` answers
everyone; otherwise a read token (bearer) or a dashboard session. Host checks and everything
else of watchd.api.origin apply as on every route: a public name must be in `api.allowed_hosts`.

What is shown is chosen, never copied: the page's own title and display names, states, daily
figures, and for an incident only its public summary (an alert annotation `public_summary`)
or "Investigating an issue with <service>" - never labels, item or check names, addresses,
titles or other annotations. States and days follow watchd.report.status.

Cheap to serve: the daily figures are computed at most once per HISTORY_TTL per page, the
current part at most once per CURRENT_TTL, and both answers are rendered once per language
(watchd.api.language: the browser's Accept-Language, else `[daemon] locale`) for every reader
until the next; concurrent requests wait for one computation. Answers vary on Accept-Language.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from watchd.api.auth import TOKENS, bearer, public
from watchd.api.dashboard import DASHBOARD, _guard
from watchd.api.errors import ApiError, strict_dumps
from watchd.api.language import page_locale
from watchd.api.reports import ReportSource
from watchd.api.status_config import StatusPageConfig, StatusServiceConfig
from watchd.i18n import N_, html_lang, translations
from watchd.page_templates import localised_environment
from watchd.pipeline.actions import IncidentService
from watchd.report import status as figures
from watchd.report.period import iso
from watchd.report.windows import load_plan
from watchd.store.pages import MAX_LIMIT, Page

DAYS = 90
HISTORY_TTL = 60.0  # seconds a page's daily figures are reused
CURRENT_TTL = 5.0  # seconds its current states and incidents are reused
SHOWN_INCIDENTS = 20  # ongoing incidents listed at most (the oldest first)
SUMMARY_LIMIT = 300  # characters of a public summary
PUBLIC_SUMMARY = "public_summary"
_WORST_FIRST = (
    figures.OUTAGE,
    figures.DEGRADED,
    figures.UNDER_MAINTENANCE,
    figures.NO_DATA,
    figures.OPERATIONAL,
)
_HEADLINES = {
    figures.OUTAGE: N_("Some services are down"),
    figures.DEGRADED: N_("Some services are degraded"),
    figures.UNDER_MAINTENANCE: N_("Maintenance in progress"),
    figures.NO_DATA: N_("Some services have no current data"),
    figures.OPERATIONAL: N_("All services are operational"),
}
_STATE_TEXT = {
    figures.OUTAGE: N_("Down"),
    figures.DEGRADED: N_("Degraded"),
    figures.UNDER_MAINTENANCE: N_("Under maintenance"),
    figures.NO_DATA: N_("No data"),
    figures.OPERATIONAL: N_("Operational"),
}
_GENERIC = N_("Investigating an issue with %(services)s")
_AND = N_(" and ")  # between the services of the generic sentence
_INCIDENT_STATUS = {"investigating": N_("Investigating"), "identified": N_("Identified")}


@cache
def _env(locale: str) -> jinja2.Environment:
    return localised_environment("watchd.api", locale, undefined=jinja2.StrictUndefined)


# One fixed style sheet, allowed by its hash: the page needs no nonce, so one rendering serves
# every reader until the next computation.
_CSS = (resources.files("watchd.api") / "templates" / "status.css").read_text(encoding="utf-8")
_CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
    + "'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A page's content (`view`, JSON-able, in one language) and its two answers."""

    view: dict[str, Any]
    html: bytes
    json: bytes


@dataclass(slots=True)
class _Cached:
    at: float
    page: StatusPageConfig
    value: Any


@dataclass(frozen=True, slots=True)
class StatusSource:
    """What status pages read: reports (engine, catalog, clock), incidents, the items' current
    check states (as GET /api/v1/items shows them) and the configured pages (after reloads)."""

    reports: ReportSource
    incidents: IncidentService
    items: Callable[[], list[dict[str, Any]]]
    pages: Callable[[], Sequence[StatusPageConfig]]
    _history: dict[str, _Cached] = field(default_factory=dict)
    _current: dict[str, _Cached] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def page(self, name: str) -> StatusPageConfig | None:
        """The configured page called `name`, or None."""
        return next((p for p in self.pages() if p.name == name), None)

    async def rendered(self, page: StatusPageConfig, locale: str) -> Rendered:
        """The page's content and answers in `locale`, from the caches (the figures are
        shared by every language; each language's answers are rendered once)."""
        async with self._lock:
            now = self.reports.clock.now()
            cached = self._current.get(page.name)
            if cached is None or cached.page != page or not 0 <= now - cached.at < CURRENT_TTL:
                cached = _Cached(now, page, (await self._build(page, now), {}))
                self._current[page.name] = cached
            view, answers = cached.value
            if locale not in answers:
                answers[locale] = _render(view, locale)
            rendered: Rendered = answers[locale]
            return rendered

    async def _histories(self, page: StatusPageConfig, now: float) -> dict[str, Any]:
        cached = self._history.get(page.name)
        if cached is None or cached.page != page or not 0 <= now - cached.at < HISTORY_TTL:
            catalog = self.reports.catalog()
            services = [s for e in page.entries() if (s := catalog.service(e.service))]
            async with self.reports.engine.connect() as conn:
                found = await figures.daily_history(conn, catalog, services, days=DAYS, now=now)
            cached = _Cached(now, page, found)
            self._history[page.name] = cached
        return dict(cached.value)

    async def _build(self, page: StatusPageConfig, now: float) -> dict[str, Any]:
        catalog = self.reports.catalog()
        histories = await self._histories(page, now)
        entries = [(e, s) for e in page.entries() if (s := catalog.service(e.service))]
        members = {e.service: catalog.members(s, ()) for e, s in entries}
        hard = {
            (item["name"], check["name"]): check.get("hard_status")
            for item in self.items()
            for check in item.get("checks", [])
            if check.get("enabled", True)
        }
        async with self.reports.engine.connect() as conn:
            plan = await load_plan(conn, catalog.windows, catalog.inventory, now - 1, now + 1)
        listed = await self.incidents.incidents_page(
            state="open,acknowledged", page=Page(MAX_LIMIT)
        )
        troubled = {str(i["item"]) for i in listed.items}
        ongoing = await self._ongoing(entries, members, listed.items)
        services: list[dict[str, Any]] = []
        for entry, service in entries:
            states = [
                figures.member_state(hard.get(k), k, catalog, plan, now)
                for k in members[entry.service]
            ]
            touched = any(k[0] in troubled for k in members[entry.service])
            state = figures.service_state(service, states, incident=touched)
            history = histories.get(service.name)
            services.append(
                {
                    "name": entry.shown,
                    "description": entry.description,
                    "state": state,
                    "objective_percent": service.objective,
                    "availability_percent": history.availability_percent if history else None,
                    "days": [
                        {"date": d.date, "availability_percent": d.availability_percent}
                        for d in (history.days if history else ())
                    ],
                }
            )
        worst = min(
            (str(s["state"]) for s in services), key=_WORST_FIRST.index, default=figures.NO_DATA
        )
        return {
            "name": page.name,
            "title": page.title,
            "state": worst,
            "timezone": catalog.timezone,
            "generated_at": iso(now, catalog.timezone),
            "days": DAYS,
            "services": services,
            "incidents": [{**i, "since": iso(i["since"], catalog.timezone)} for i in ongoing],
        }

    async def _ongoing(
        self,
        entries: Sequence[tuple[StatusServiceConfig, Any]],
        members: dict[str, list[tuple[str, str]]],
        open_incidents: Sequence[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The first SHOWN_INCIDENTS of `open_incidents` on an item of the page's services,
        oldest first, each with its public summary and the display names of the services it
        touches."""
        shown_by_item: dict[str, list[str]] = {}
        for entry, _ in entries:
            for item in sorted({k[0] for k in members[entry.service]}):
                shown_by_item.setdefault(item, []).append(entry.shown)
        touching = sorted(
            (i for i in open_incidents if i["item"] in shown_by_item), key=lambda i: i["id"]
        )[:SHOWN_INCIDENTS]
        out = []
        for incident in touching:
            services = shown_by_item[incident["item"]]
            full = await self.incidents.get_incident(int(incident["id"]))
            out.append(
                {
                    "status": "identified"
                    if incident["state"] == "acknowledged"
                    else "investigating",
                    "summary": public_summary(full.get("alerts", [])),
                    "since": float(incident["opened_at"]),
                    "services": services,
                }
            )
        return out


def public_summary(alerts: Sequence[dict[str, Any]]) -> str | None:
    """The first `public_summary` annotation of the incident's alerts (firing ones first), or
    None: the page then shows a generic sentence naming the display names of its services
    in the reader's language (`_localised`)."""
    ordered = sorted(alerts, key=lambda a: a.get("status") != "firing")
    for alert in ordered:
        text = (alert.get("annotations") or {}).get(PUBLIC_SUMMARY)
        if isinstance(text, str) and text.strip():
            clean = " ".join(text.split())
            return clean if len(clean) <= SUMMARY_LIMIT else clean[: SUMMARY_LIMIT - 1] + "…"
    return None


SOURCE = web.AppKey("watchd.status", StatusSource)


async def _denied(
    request: web.Request, page: StatusPageConfig, *, html: bool
) -> web.Response | None:
    """None when the request may read `page`; else the sign-in page (HTML) to answer, or
    ApiError 401 raised (JSON, or no dashboard to sign in to)."""
    table = request.app[TOKENS]
    if page.public or not table.enabled:
        return None
    token = bearer(request)
    if token is not None:
        scopes = table.scopes(token)
        if scopes is not None and "read" in scopes:
            return None
    elif DASHBOARD in request.app:
        denied = await _guard(request)
        if denied is None or html:
            return denied
    raise ApiError(
        401,
        "This status page needs a token with the 'read' scope (Authorization: Bearer) or a "
        "dashboard session.",
        headers={"WWW-Authenticate": 'Bearer realm="watchd"'},
    )


def _configured(request: web.Request) -> StatusPageConfig:
    page = request.app[SOURCE].page(request.match_info["name"])
    if page is None:
        raise ApiError(404, "There is no such status page.")
    return page


def _headers(page: StatusPageConfig, locale: str) -> dict[str, str]:
    # A public page may be kept by browsers and proxies as long as it is reused here (one copy
    # per language: Vary); a private one is no one else's to keep.
    cache = f"public, max-age={int(CURRENT_TTL)}" if page.public else "private, no-store"
    return {
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Language": html_lang(locale),
        "Vary": "Accept-Language",
    }


async def _answer(request: web.Request, page: StatusPageConfig) -> tuple[Rendered, dict[str, str]]:
    """The page's answers in the reader's language, and the headers they go with."""
    source = request.app[SOURCE]
    locale = page_locale(request, user=None, default=source.reports.catalog().locale)
    return await source.rendered(page, locale), _headers(page, locale)


def day_level(percent: float | None, objective: float) -> str:
    """A day's bar colour: none (no data), ok (objective met), low (missed, 95 % or more),
    bad (under 95 %)."""
    if percent is None:
        return "none"
    if percent >= objective:
        return "ok"
    return "low" if percent >= 95.0 else "bad"


def _localised(view: dict[str, Any], locale: str) -> dict[str, Any]:
    """`view` with its words in `locale`: the headline, each service's state and each
    incident's status, and the generic sentence of an incident with no public summary."""
    # Not named _: the texts are marked where they are defined (N_), and pybabel
    # 2.16 (the lowest allowed) takes a key inside _(...) for a message.
    say = translations(locale).gettext
    services = [{**s, "state_text": say(_STATE_TEXT[s["state"]])} for s in view["services"]]
    incidents = [
        {
            **i,
            "status_text": say(_INCIDENT_STATUS[i["status"]]),
            "summary": i["summary"] or say(_GENERIC) % {"services": say(_AND).join(i["services"])},
        }
        for i in view["incidents"]
    ]
    headline = say(_HEADLINES[view["state"]])
    return {**view, "headline": headline, "services": services, "incidents": incidents}


def _render(neutral: dict[str, Any], locale: str) -> Rendered:
    view = _localised(neutral, locale)
    bars = [
        [
            (d["date"], d["availability_percent"], day_level(d["availability_percent"], objective))
            for d in s["days"]
        ]
        for s in view["services"]
        for objective in (s["objective_percent"],)
    ]
    text = _env(locale).get_template("status.html").render(view=view, bars=bars, css=Markup(_CSS))
    # The objective picks the bars' colours; the JSON gives the figures alone.
    services = [{k: v for k, v in s.items() if k != "objective_percent"} for s in view["services"]]
    incidents = [{k: v for k, v in i.items() if k != "status_text"} for i in view["incidents"]]
    return Rendered(
        view,
        text.encode("utf-8", "backslashreplace"),
        strict_dumps({**view, "services": services, "incidents": incidents}).encode(),
    )


@public
async def page_html(request: web.Request) -> web.Response:
    """A configured status page (public, or with a read token or dashboard session)."""
    page = _configured(request)
    if (denied := await _denied(request, page, html=True)) is not None:
        return denied
    rendered, headers = await _answer(request, page)
    headers["Content-Security-Policy"] = _CSP  # no script at all; only the page's own style
    return web.Response(
        body=rendered.html, content_type="text/html", charset="utf-8", headers=headers
    )


@public
async def page_json(request: web.Request) -> web.Response:
    """A configured status page as JSON: services with states and days, ongoing incidents."""
    page = _configured(request)
    await _denied(request, page, html=False)
    rendered, headers = await _answer(request, page)
    return web.Response(body=rendered.json, content_type="application/json", headers=headers)


def add_routes(app: web.Application, source: StatusSource) -> None:
    """Add the status pages to an app from watchd.api.create_app."""
    app[SOURCE] = source
    app.router.add_get("/status/{name}", page_html)
    app.router.add_get("/status/{name}/status.json", page_json)
