"""The read and silence side of Alertmanager's API v2, so amtool, Karma and Grafana's
Alertmanager data source work against watchd (its ingestion side is watchd.api.ingest).

    GET    /api/v2/alerts          ?filter=&active=&silenced=&inhibited=&unprocessed=&receiver=
    GET    /api/v2/alerts/groups   ?filter=&active=&silenced=&inhibited=&receiver=
    GET    /api/v2/silences        ?filter=
    POST   /api/v2/silences        postableSilence -> {"silenceID": ...}      write
    GET    /api/v2/silence/{id}    DELETE /api/v2/silence/{id} (expires it)   DELETE: write
    GET    /api/v2/status          GET /api/v2/receivers

Reads need the `read` scope. Everything comes from watchd's own store: the alerts firing now
with what mutes them (watchd.pipeline.current), and watchd's silences, one model for both
APIs; in a storm, alerts answered and not taken in yet come from the ingest journal, in state
"unprocessed". Alertmanager's API has no paging: a list stops at MAX_ALERTS alerts or every current
silence plus MAX_EXPIRED_SILENCES expired ones, and says so with `X-Watchd-Truncated: true`
(silences also give `X-Total-Count`, all of them, before `filter`). Alerts are read, judged and
encoded a thousand at a time, so a long list never stalls the event loop for long.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from watchd.api.am_shapes import (
    PostableSilence,
    alert_json,
    am_time,
    silence_json,
    unprocessed_json,
)
from watchd.api.auth import actor, require_scope
from watchd.api.errors import ApiError, json_response, strict_dumps
from watchd.api.inputs import json_body
from watchd.api.openapi import accepts, package_version
from watchd.matchers import (
    Matcher,
    MatcherError,
    RegexError,
    compile_regex,
    matches_all,
    parse_matchers,
    split_matcher,
)
from watchd.model import Alert
from watchd.notify.router import Route, Router
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.current import CurrentAlert
from watchd.pipeline.silences import SilenceError, SilenceNotFound

MAX_ALERTS = 10_000
MAX_EXPIRED_SILENCES = 1_000


@dataclass(frozen=True, slots=True)
class AmSources:
    """What the routes read besides the store, as the composition root provides it: the
    current route tree and receiver names (they change on reload), the node and the cluster."""

    router: Callable[[], Router]
    receivers: Callable[[], list[str]]
    node_name: str
    started_at: float
    cluster: Callable[[], Awaitable[Mapping[str, Any]]]
    config_text: Callable[[], str]
    # Alerts answered and not taken in yet (the ingest journal in a storm), with when.
    unprocessed: Callable[[], Sequence[tuple[Alert, float]]] = lambda: ()


SERVICE = web.AppKey("watchd.am.incidents", IncidentService)
SOURCES = web.AppKey("watchd.am.sources", AmSources)


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter, true when absent (as every one of the spec's is)."""
    value = request.query.get(name, "true").lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"The parameter '{name}' must be true or false, not {value!r}.")
    return value == "true"


def _filters(request: web.Request) -> tuple[Matcher, ...]:
    try:
        return parse_matchers(request.query.getall("filter", []))
    except MatcherError as exc:
        raise ApiError(400, f"The parameter 'filter': {exc}") from exc


def _receiver_match(request: web.Request) -> Callable[[Iterable[str]], bool]:
    """Whether any of an alert's receivers matches the `receiver` regex (whole name)."""
    pattern = request.query.get("receiver")
    if not pattern:
        return lambda _: True
    try:
        regex = compile_regex(f"(?:{pattern})")
    except RegexError as exc:
        raise ApiError(400, f"The parameter 'receiver': {exc}.") from exc
    return lambda names: any(regex.fullmatch(n) is not None for n in names)


def _wanted(request: web.Request) -> Callable[[CurrentAlert], bool]:
    """The alert filter of the query's state flags: `silenced` covers silences and what else
    holds an alert back for a while (maintenance windows, changes, flapping), `inhibited` the
    inhibit rules and UNREACHABLE items' symptoms (`unprocessed`: see `_unprocessed`)."""
    active, silenced, inhibited = (_flag(request, n) for n in ("active", "silenced", "inhibited"))

    def wanted(alert: CurrentAlert) -> bool:
        if not alert.suppressed:
            return active
        is_silenced, is_inhibited = bool(alert.silenced_entries), bool(alert.inhibited_entries)
        return (silenced or not is_silenced) and (inhibited or not is_inhibited)

    return wanted


@dataclass(frozen=True, slots=True)
class _Shown:
    """A selected alert: its labels, the routes they reach and its gettableAlert as JSON text
    (encoded once, as it is read: a group lists it again for each receiver)."""

    labels: Mapping[str, str]
    routes: list[Route]
    text: str


async def _matching(
    request: web.Request, receiver_ok: Callable[[Iterable[str]], bool]
) -> tuple[list[_Shown], bool]:
    """The current alerts the query selects, with a receiver `receiver_ok` accepts (at most
    MAX_ALERTS), and whether there were more.

    Reading stops at MAX_ALERTS + 1: counting the rest would judge every firing alert for an
    answer that shows none of them."""
    filters = _filters(request)
    wanted = _wanted(request)
    router = request.app[SOURCES].router()
    found: list[_Shown] = []
    seen: set[str] = set()
    chunks = request.app[SERVICE].current_alerts(lambda labels: matches_all(filters, labels))
    async with aclosing(chunks):
        async for chunk in chunks:
            for alert in chunk:
                seen.add(alert.fingerprint)
                if not wanted(alert):
                    continue
                receivers = router.receivers((alert.labels,))
                if not receiver_ok(receivers):
                    continue
                if len(found) == MAX_ALERTS:
                    return found, True
                text = strict_dumps(alert_json(alert, receivers))
                found.append(_Shown(alert.labels, router.match(alert.labels), text))
    for journaled, received_at in _unprocessed(request):
        labels = dict(journaled.labels)
        if journaled.fingerprint in seen or not matches_all(filters, labels):
            continue
        receivers = router.receivers((labels,))
        if not receiver_ok(receivers):
            continue
        if len(found) == MAX_ALERTS:
            return found, True
        text = strict_dumps(unprocessed_json(journaled, receivers, received_at))
        found.append(_Shown(labels, router.match(labels), text))
    return found, False


def _unprocessed(request: web.Request) -> Sequence[tuple[Alert, float]]:
    """The alerts answered and not taken in yet that the `unprocessed` flag selects: in a
    storm watchd answers a POST once its alerts are journaled (watchd.ingest.journal); one
    not among the current alerts yet is listed in state "unprocessed", as Alertmanager lists
    what it has received and not yet processed."""
    if not _flag(request, "unprocessed"):
        return ()
    return request.app[SOURCES].unprocessed()


def _truncated(truncated: bool) -> dict[str, str]:
    return {"X-Watchd-Truncated": "true"} if truncated else {}


def _array(texts: Iterable[str], *, truncated: bool) -> web.Response:
    """A JSON array of already encoded `texts`; a header says when the list was cut short."""
    body = "[" + ",".join(texts) + "]"
    return web.Response(text=body, content_type="application/json", headers=_truncated(truncated))


@require_scope("read")
async def get_alerts(request: web.Request) -> web.Response:
    """Alertmanager's gettableAlerts: the alerts firing now, filtered as the query asks."""
    found, truncated = await _matching(request, _receiver_match(request))
    return _array((f.text for f in found), truncated=truncated)


@require_scope("read")
async def get_alert_groups(request: web.Request) -> web.Response:
    """Alertmanager's alertGroups: the firing alerts by receiver and route group_by labels;
    `receiver` selects groups by their receiver's name, as in Alertmanager."""
    receiver_ok = _receiver_match(request)
    found, truncated = await _matching(request, receiver_ok)
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[str]] = {}
    for shown in found:
        for route in shown.routes:
            labels = tuple((n, shown.labels[n]) for n in route.group_by if n in shown.labels)
            for receiver in route.receivers:
                if not receiver_ok((receiver,)):
                    continue
                groups.setdefault((receiver, route.path, labels), []).append(shown.text)
    texts = (
        strict_dumps({"labels": dict(labels), "receiver": {"name": receiver}})[:-1]
        + ',"alerts":['
        + ",".join(alerts)
        + "]}"
        for (receiver, _, labels), alerts in groups.items()
    )
    return _array(texts, truncated=truncated)


def _silence_matches(filters: tuple[Matcher, ...], matchers: tuple[str, ...]) -> bool:
    """Alertmanager's silence filter: each filter matcher names a label the silence has a
    matcher on, and matches that matcher's value."""
    if not filters:
        return True
    values = {label: value for label, _, value in map(split_matcher, matchers)}
    return all(f.label in values and f.matches(values) for f in filters)


@require_scope("read")
async def get_silences(request: web.Request) -> web.Response:
    """Alertmanager's gettableSilences: every current silence and the latest expired ones."""
    filters = _filters(request)
    service = request.app[SERVICE]
    now = service.now()
    current, expired = await service.silences_with_expired(MAX_EXPIRED_SILENCES)
    # Alertmanager's order: active ones ending first, then pending by start, then expired.
    current.sort(
        key=lambda s: (s.state(now) != "active", s.ends_at if s.active(now) else s.starts_at)
    )
    chosen = [s for s in current + expired.items if _silence_matches(filters, s.matchers)]
    headers = {"X-Total-Count": str(len(current) + expired.total)}
    headers |= _truncated(len(expired.items) < expired.total)
    return json_response([silence_json(s, now) for s in chosen], headers=headers)


def _epoch(moment: datetime) -> float:
    """A silence's time as epoch seconds; one without a zone is UTC, not this host's zone."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@require_scope("write")
@accepts(PostableSilence)
async def post_silence(request: web.Request) -> web.Response:
    """Create a silence, or replace silence `id` by a new one; answers its silenceID."""
    raw = await json_body(request, empty={})
    try:
        body = PostableSilence.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"Field '{where}': {first['msg']}.") from exc
    service = request.app[SERVICE]
    # As Alertmanager: a start in the past means now.
    starts = max(_epoch(body.startsAt), service.now())
    try:
        silence = await service.add_silence(
            matchers=[m.as_text() for m in body.matchers],
            starts_at=starts,
            ends_at=_epoch(body.endsAt),
            created_by=actor(request, body.createdBy),
            comment=body.comment,
            replacing=body.id or None,
        )
    except SilenceNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except SilenceError as exc:
        raise ApiError(400, f"Field '{exc.field}': {exc}") from exc
    return json_response({"silenceID": silence["id"]})


@require_scope("read")
async def get_silence(request: web.Request) -> web.Response:
    """Alertmanager's gettableSilence of one silence, whatever its state."""
    service = request.app[SERVICE]
    silence = await service.find_silence(request.match_info["id"])
    if silence is None:
        raise ApiError(404, f"There is no silence {request.match_info['id']}.")
    return json_response(silence_json(silence, service.now()))


@require_scope("write")
async def delete_silence(request: web.Request) -> web.Response:
    """Expire a silence now (what it held back is notified)."""
    silence_id = request.match_info["id"]
    if not await request.app[SERVICE].expire_silence(silence_id):
        raise ApiError(404, f"There is no running or pending silence {silence_id}.")
    return web.Response(status=200)


@require_scope("read")
async def get_status(request: web.Request) -> web.Response:
    """Alertmanager's alertmanagerStatus: this node, its cluster, version, routes, uptime."""
    sources = request.app[SOURCES]
    cluster = await sources.cluster()
    peers = [
        {"name": n["name"], "address": n.get("api") or n.get("host") or ""}
        for n in cluster.get("nodes", ())
        if n.get("state") == "live"
    ]
    return json_response(
        {
            "cluster": {
                "name": sources.node_name,
                "status": "disabled" if cluster.get("single_node") else "ready",
                "peers": [] if cluster.get("single_node") else peers,
            },
            "versionInfo": {
                "version": package_version(),
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "config": {"original": sources.config_text()},
            "uptime": am_time(sources.started_at),
        }
    )


@require_scope("read")
async def get_receivers(request: web.Request) -> web.Response:
    """Alertmanager's receivers: the configured receivers' names."""
    return json_response([{"name": name} for name in request.app[SOURCES].receivers()])


def add_routes(app: web.Application, service: IncidentService, sources: AmSources) -> None:
    """Add the Alertmanager API v2 read and silence routes to an app from create_app."""
    app[SERVICE] = service
    app[SOURCES] = sources
    app.router.add_get("/api/v2/alerts", get_alerts)
    app.router.add_get("/api/v2/alerts/groups", get_alert_groups)
    app.router.add_get("/api/v2/silences", get_silences)
    app.router.add_post("/api/v2/silences", post_silence)
    app.router.add_get("/api/v2/silence/{id}", get_silence)
    app.router.add_delete("/api/v2/silence/{id}", delete_silence)
    app.router.add_get("/api/v2/status", get_status)
    app.router.add_get("/api/v2/receivers", get_receivers)
