"""Alertmanager's API v2 read and silence side on a real loopback server, backed by a real
store: the shapes amtool, Karma and Grafana read, filters, one silence model, scopes, caps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from sqlalchemy import insert

from tests.api.conftest import TOKEN_NAMES
from tests.pipeline.conftest import BASE_CONFIG, alert, settings_from
from watchd.api import alertmanager
from watchd.api import incidents as v1_routes
from watchd.api.alertmanager import AmSources
from watchd.api.am_config import alertmanager_config
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.loading import notify_router
from watchd.model import Alert
from watchd.pipeline import AlertPipeline, current
from watchd.pipeline.actions import IncidentService
from watchd.store import Store
from watchd.store.incident_tables import silences as silences_table

Headers = dict[str, dict[str, str]]

ROUTED: dict[str, Any] = {
    "route": {
        "receivers": ["log"],
        "group_by": ["item"],
        "routes": [{"matchers": ['team="db"'], "receivers": ["pager", "log"], "continue": True}],
    },
    "items": [*BASE_CONFIG["items"], {"name": "lab1"}],
    "maintenance": [{"name": "patching", "items": ["lab1"], "cron": "0 8 * * *", "duration": "1h"}],
    "inhibit_rules": [
        {
            "source_matchers": ['alertname="HostDown"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["item"],
        }
    ],
}
NOW = 1_800_000_100.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def pipeline(tmp_path: Path, clock: FakeClock) -> AsyncIterator[AlertPipeline]:
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    yield AlertPipeline(store.engine, clock=clock, settings=settings_from(ROUTED))
    await store.close()


@pytest.fixture
def cluster_status() -> dict[str, Any]:
    """What the routes read as the cluster's status (watchd.cluster.status); a single node
    unless a test says otherwise."""
    return {"single_node": True, "nodes": []}


@pytest.fixture
def journaled() -> list[tuple[Alert, float]]:
    """What the routes read as alerts answered and not taken in yet (IngestJournal.unprocessed):
    none unless a test adds some."""
    return []


@pytest.fixture
async def base(
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    pipeline: AlertPipeline,
    clock: FakeClock,
    cluster_status: dict[str, Any],
    journaled: list[tuple[Alert, float]],
) -> str:
    config = parse_config({**BASE_CONFIG, **ROUTED}, Path("test.toml"))
    service = IncidentService(pipeline.engine, clock=clock, settings=lambda: pipeline.settings)

    async def cluster() -> dict[str, Any]:
        return cluster_status

    app = make_app(token_names=TOKEN_NAMES)
    v1_routes.add_routes(app, service)
    alertmanager.add_routes(
        app,
        service,
        AmSources(
            router=lambda: notify_router(config),
            receivers=lambda: ["log", "pager"],
            node_name="node-a",
            started_at=NOW - 60,
            cluster=cluster,
            config_text=lambda: "# routes\n",
            unprocessed=lambda: journaled,
        ),
    )
    return await serve(app)


async def _get(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def _silence(matchers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "matchers": matchers,
        "startsAt": "2027-01-15T08:00:00Z",  # before NOW: starts now, as in Alertmanager
        "endsAt": "2027-01-15T12:00:00Z",
        "createdBy": "alice",
        "comment": "disk swap",
        **extra,
    }


async def test_firing_alerts_are_listed_in_alertmanagers_shape_with_their_receivers(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """Each firing alert shows labels, annotations, times, fingerprint and the receivers its
    labels route to; a resolved alert is not listed."""
    await pipeline.submit(
        (alert("db1", team="db"), alert("web1", "check_http"), alert("router", firing=False))
    )
    found = await _get(http, f"{base}/api/v2/alerts", auth["read"])
    by_item = {a["labels"]["item"]: a for a in found}
    assert set(by_item) == {"db1", "web1"}
    db1 = by_item["db1"]
    assert [r["name"] for r in db1["receivers"]] == ["pager", "log"]
    assert [r["name"] for r in by_item["web1"]["receivers"]] == ["log"]
    assert db1["annotations"] == {"summary": "check_tcp on db1"}
    assert db1["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert db1["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert db1["endsAt"] == "0001-01-01T00:00:00.000Z"  # a check alert has no end
    assert len(db1["fingerprint"]) == 16 and "generatorURL" in db1 and "updatedAt" in db1


async def test_alerts_answered_and_not_taken_in_yet_are_listed_as_unprocessed(
    base: str,
    http: aiohttp.ClientSession,
    auth: Headers,
    pipeline: AlertPipeline,
    journaled: list[tuple[Alert, float]],
) -> None:
    """In a storm a POST is answered once its alerts are journaled: until they are taken in
    they are listed in state "unprocessed" (not twice when already current), and
    `unprocessed=false` leaves them out, as in Alertmanager."""
    await pipeline.submit((alert("db1", team="db"),))
    journaled += [(alert("db1", team="db"), NOW), (alert("db2", team="db"), NOW - 1)]
    found = await _get(http, f"{base}/api/v2/alerts", auth["read"])
    states = {a["labels"]["item"]: a["status"]["state"] for a in found}
    assert states == {"db1": "active", "db2": "unprocessed"}
    db2 = next(a for a in found if a["labels"]["item"] == "db2")
    assert [r["name"] for r in db2["receivers"]] == ["pager", "log"]
    assert db2["updatedAt"] == "2027-01-15T08:01:39.000Z"
    assert db2["status"] == {"state": "unprocessed", "silencedBy": [], "inhibitedBy": []}
    hidden = await _get(http, f"{base}/api/v2/alerts?unprocessed=false", auth["read"])
    assert [a["labels"]["item"] for a in hidden] == ["db1"]
    groups = await _get(http, f"{base}/api/v2/alerts/groups?receiver=pager", auth["read"])
    assert sorted(a["labels"]["item"] for g in groups for a in g["alerts"]) == ["db1", "db2"]


async def test_alerts_are_filtered_by_matchers_and_receiver_regex(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """`filter` takes Alertmanager matchers (all must match, regexes anchored); `receiver`
    keeps alerts with a receiver whose whole name matches; bad input is a 400 naming it."""
    await pipeline.submit((alert("db1", team="db"), alert("db2"), alert("web1", "check_http")))
    url = f"{base}/api/v2/alerts?filter=item%3D~%22db.%22&filter=alertname%3D%22check_tcp%22"
    assert {a["labels"]["item"] for a in await _get(http, url, auth["read"])} == {"db1", "db2"}
    url = f"{base}/api/v2/alerts?receiver=pag"
    assert await _get(http, url, auth["read"]) == []
    url = f"{base}/api/v2/alerts?receiver=pag.*"
    assert [a["labels"]["item"] for a in await _get(http, url, auth["read"])] == ["db1"]
    for query, word in (("filter=item%3D~%22(%22", "filter"), ("active=maybe", "active")):
        async with http.get(f"{base}/api/v2/alerts?{query}", headers=auth["read"]) as resp:
            assert resp.status == 400
            assert word in (await resp.json())["error"]


async def test_a_silence_posted_like_amtool_shows_in_both_apis_and_mutes_the_alert(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """POST /api/v2/silences answers the silenceID; the silence is watchd's own (listed by
    /api/v1/silences with the token's name), the alert it matches is suppressed with its id
    in silencedBy, and `silenced=false` leaves that alert out."""
    await pipeline.submit((alert("db1"), alert("web1", "check_http")))
    body = _silence([{"name": "item", "value": "db1", "isRegex": False, "isEqual": True}])
    async with http.post(f"{base}/api/v2/silences", json=body, headers=auth["write"]) as resp:
        assert resp.status == 200, await resp.text()
        silence_id = (await resp.json())["silenceID"]
    (v1,) = (await _get(http, f"{base}/api/v1/silences", auth["read"]))["silences"]
    assert v1["id"] == silence_id and v1["matchers"] == ['item="db1"']
    assert v1["created_by"] == "alice via token ops-dashboard"
    assert v1["starts_at"] == NOW  # a start in the past means now
    by_item = {
        a["labels"]["item"]: a for a in await _get(http, f"{base}/api/v2/alerts", auth["read"])
    }
    assert by_item["db1"]["status"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
    }
    url = f"{base}/api/v2/alerts?silenced=false"
    assert [a["labels"]["item"] for a in await _get(http, url, auth["read"])] == ["web1"]
    url = f"{base}/api/v2/alerts?active=false"
    assert [a["labels"]["item"] for a in await _get(http, url, auth["read"])] == ["db1"]


async def test_a_silence_made_in_watchd_shows_with_alertmanager_matchers(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A silence from /api/v1/silences is listed by /api/v2/silences and /api/v2/silence/{id}
    with its matchers as Alertmanager objects; `filter` selects silences by their matchers."""
    body = {"matchers": ['item!~"db.*"', 'team="ops"'], "duration": "1h", "created_by": "bob"}
    async with http.post(f"{base}/api/v1/silences", json=body, headers=auth["write"]) as resp:
        silence_id = (await resp.json())["id"]
    (shown,) = await _get(http, f"{base}/api/v2/silences", auth["read"])
    assert shown == await _get(http, f"{base}/api/v2/silence/{silence_id}", auth["read"])
    assert (
        shown["status"] == {"state": "active"}
        and shown["createdBy"] == "bob via token ops-dashboard"
    )
    assert shown["matchers"] == [
        {"name": "item", "value": "db.*", "isRegex": True, "isEqual": False},
        {"name": "team", "value": "ops", "isRegex": False, "isEqual": True},
    ]
    assert shown["endsAt"] == "2027-01-15T09:01:40.000Z"
    url = f"{base}/api/v2/silences?filter=team%3D%22ops%22"
    assert len(await _get(http, url, auth["read"])) == 1
    url = f"{base}/api/v2/silences?filter=team%3D%22db%22"
    assert await _get(http, url, auth["read"]) == []


async def test_a_silence_is_updated_by_id_and_expired_by_delete(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """Posting with an id replaces that silence by a new one (the old one expired at once),
    an unknown id is 404; DELETE expires a silence (404 the second time) and the alert it
    held is active again."""
    await pipeline.submit((alert("db1"),))
    matcher = {"name": "item", "value": "db1", "isRegex": False}
    async with http.post(
        f"{base}/api/v2/silences", json=_silence([matcher]), headers=auth["write"]
    ) as resp:
        first = (await resp.json())["silenceID"]
    update = _silence([matcher], id=first, endsAt="2027-01-15T14:00:00Z")
    async with http.post(f"{base}/api/v2/silences", json=update, headers=auth["write"]) as resp:
        assert resp.status == 200
        second = (await resp.json())["silenceID"]
    assert second != first
    new = await _get(http, f"{base}/api/v2/silence/{second}", auth["read"])
    assert new["endsAt"] == "2027-01-15T14:00:00.000Z"
    # amtool's update sends back the createdBy it read: the token is not named twice.
    again = _silence([matcher], id=second, createdBy=new["createdBy"])
    async with http.post(f"{base}/api/v2/silences", json=again, headers=auth["write"]) as resp:
        second = (await resp.json())["silenceID"]
    shown = await _get(http, f"{base}/api/v2/silence/{second}", auth["read"])
    assert shown["createdBy"] == "alice via token ops-dashboard"
    old = await _get(http, f"{base}/api/v2/silence/{first}", auth["read"])
    assert old["status"]["state"] == "expired"
    unknown = _silence([matcher], id="00000000-0000-0000-0000-000000000000")
    async with http.post(f"{base}/api/v2/silences", json=unknown, headers=auth["write"]) as resp:
        assert resp.status == 404
    url = f"{base}/api/v2/silence/{second}"
    async with http.delete(url, headers=auth["write"]) as resp:
        assert resp.status == 200
    async with http.delete(url, headers=auth["write"]) as resp:
        assert resp.status == 404
    (db1,) = await _get(http, f"{base}/api/v2/alerts", auth["read"])
    assert db1["status"]["state"] == "active"
    states = [
        s["status"]["state"] for s in await _get(http, f"{base}/api/v2/silences", auth["read"])
    ]
    assert states == ["expired", "expired", "expired"]


async def test_a_bad_silence_is_refused_naming_the_field(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """No matchers, a regex RE2 refuses, or an end before now is a 400 naming what is wrong."""
    cases = [
        (_silence([]), "matchers"),
        (_silence([{"name": "a", "value": "(", "isRegex": True}]), "matchers"),
        (
            _silence(
                [{"name": "a", "value": "b", "isRegex": False}], endsAt="2027-01-15T08:00:00Z"
            ),
            "ends_at",
        ),
    ]
    for body, field in cases:
        async with http.post(f"{base}/api/v2/silences", json=body, headers=auth["write"]) as resp:
            assert resp.status == 400
            assert field in (await resp.json())["error"]


async def test_an_inhibited_alert_names_the_alert_that_inhibits_it(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """A warning on an item whose HostDown fires is suppressed with HostDown's fingerprint in
    inhibitedBy; `inhibited=false` leaves it out."""
    await pipeline.submit(
        (alert("db1", "HostDown"), alert("db1", "check_disk", severity="warning"))
    )
    found = {
        a["labels"]["alertname"]: a for a in await _get(http, f"{base}/api/v2/alerts", auth["read"])
    }
    assert found["check_disk"]["status"]["inhibitedBy"] == [found["HostDown"]["fingerprint"]]
    assert found["check_disk"]["status"]["state"] == "suppressed"
    url = f"{base}/api/v2/alerts?inhibited=false"
    assert [a["labels"]["alertname"] for a in await _get(http, url, auth["read"])] == ["HostDown"]


async def test_alert_groups_follow_the_routes_group_by_per_receiver(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """Groups are per receiver and the route's group_by labels, as Alertmanager groups them."""
    await pipeline.submit(
        (
            alert("db1", team="db"),
            alert("db1", "check_disk", team="db"),
            alert("web1", "check_http"),
        )
    )
    groups = await _get(http, f"{base}/api/v2/alerts/groups", auth["read"])
    shown = sorted(
        (g["receiver"]["name"], g["labels"].get("item"), len(g["alerts"])) for g in groups
    )
    assert shown == [("log", "db1", 2), ("log", "web1", 1), ("pager", "db1", 2)]
    groups = await _get(http, f"{base}/api/v2/alerts/groups?receiver=pag.*", auth["read"])
    assert [(g["receiver"]["name"], len(g["alerts"])) for g in groups] == [("pager", 2)]


async def test_reads_need_the_read_scope_and_silence_writes_the_write_scope(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Without a token 401; an ingest token cannot read; a read token cannot silence."""
    async with http.get(f"{base}/api/v2/alerts") as resp:
        assert resp.status == 401
    async with http.get(f"{base}/api/v2/silences", headers=auth["ingest"]) as resp:
        assert resp.status == 403
    body = _silence([{"name": "a", "value": "b", "isRegex": False}])
    async with http.post(f"{base}/api/v2/silences", json=body, headers=auth["read"]) as resp:
        assert resp.status == 403
    async with http.delete(f"{base}/api/v2/silence/x", headers=auth["read"]) as resp:
        assert resp.status == 403


async def test_status_and_receivers_answer_in_alertmanagers_shape(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Status names the node, a single node's cluster as disabled, the version, the routes
    and the start time; receivers lists the configured names."""
    status = await _get(http, f"{base}/api/v2/status", auth["read"])
    assert status["cluster"] == {"name": "node-a", "status": "disabled", "peers": []}
    assert set(status["versionInfo"]) == {
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    }
    assert status["config"] == {"original": "# routes\n"}
    assert status["uptime"] == "2027-01-15T08:00:40.000Z"
    receivers = await _get(http, f"{base}/api/v2/receivers", auth["read"])
    assert receivers == [{"name": "log"}, {"name": "pager"}]


async def test_alerts_are_read_in_chunks_and_a_list_past_the_cap_says_it_was_cut(
    base: str,
    http: aiohttp.ClientSession,
    auth: Headers,
    pipeline: AlertPipeline,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alerts are read a chunk at a time, oldest first, none lost or repeated between chunks;
    Alertmanager's API has no paging, so past MAX_ALERTS the list stops and a header says so
    (for groups too)."""
    monkeypatch.setattr(current, "CHUNK", 2)
    for i in range(5):
        await pipeline.submit((alert(f"db{i}"),))
        clock.step(1)  # first seen one after another
    items = [a["labels"]["item"] for a in await _get(http, f"{base}/api/v2/alerts", auth["read"])]
    assert items == ["db0", "db1", "db2", "db3", "db4"]
    monkeypatch.setattr(alertmanager, "MAX_ALERTS", 3)
    async with http.get(f"{base}/api/v2/alerts", headers=auth["read"]) as resp:
        assert [a["labels"]["item"] for a in await resp.json()] == ["db0", "db1", "db2"]
        assert resp.headers["X-Watchd-Truncated"] == "true"
    async with http.get(f"{base}/api/v2/alerts/groups", headers=auth["read"]) as resp:
        assert len(await resp.json()) == 3  # one group per item
        assert resp.headers["X-Watchd-Truncated"] == "true"
    url = f"{base}/api/v2/alerts?filter=item%3D~%22db%5B34%5D%22"
    async with http.get(url, headers=auth["read"]) as resp:
        assert len(await resp.json()) == 2
        assert "X-Watchd-Truncated" not in resp.headers


async def test_silences_past_the_expired_cap_say_so_and_how_many_there_are(
    base: str, http: aiohttp.ClientSession, auth: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every current silence is listed, expired ones up to MAX_EXPIRED_SILENCES (the latest
    ended first); the headers say the list was cut and how many silences there are."""
    monkeypatch.setattr(alertmanager, "MAX_EXPIRED_SILENCES", 1)
    matcher = [{"name": "item", "value": "db1", "isRegex": False}]
    ids = []
    for _ in range(3):
        async with http.post(
            f"{base}/api/v2/silences", json=_silence(matcher), headers=auth["write"]
        ) as resp:
            ids.append((await resp.json())["silenceID"])
    for silence_id in ids[:2]:
        async with http.delete(f"{base}/api/v2/silence/{silence_id}", headers=auth["write"]):
            pass
    async with http.get(f"{base}/api/v2/silences", headers=auth["read"]) as resp:
        shown = await resp.json()
        assert resp.headers["X-Total-Count"] == "3"
        assert resp.headers["X-Watchd-Truncated"] == "true"
    assert [s["status"]["state"] for s in shown] == ["active", "expired"]
    assert shown[0]["id"] == ids[2]


async def test_the_openapi_document_lists_the_alertmanager_routes_with_their_scopes(
    base: str, http: aiohttp.ClientSession
) -> None:
    """Every v2 route is in /api/openapi.json with its scope; the silence body's schema too."""
    async with http.get(f"{base}/api/openapi.json") as resp:
        doc = await resp.json()
    paths = doc["paths"]
    for path, method, scope in (
        ("/api/v2/alerts", "get", "read"),
        ("/api/v2/alerts/groups", "get", "read"),
        ("/api/v2/silences", "get", "read"),
        ("/api/v2/silences", "post", "write"),
        ("/api/v2/silence/{id}", "get", "read"),
        ("/api/v2/silence/{id}", "delete", "write"),
        ("/api/v2/status", "get", "read"),
        ("/api/v2/receivers", "get", "read"),
    ):
        assert paths[path][method]["security"] == [{"bearer": [scope]}], (path, method)
    body = paths["/api/v2/silences"]["post"]["requestBody"]["content"]["application/json"]
    assert {"matchers", "startsAt", "endsAt", "createdBy"} <= set(body["schema"]["properties"])
    assert "isRegex" in doc["components"]["schemas"]["AmMatcher"]["properties"]


async def test_a_silence_stored_before_matchers_were_re2_is_still_listed(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """A stored silence whose regex RE2 refuses (it mutes nothing) still shows what it says,
    instead of failing the whole list."""
    async with pipeline.engine.begin() as conn:
        await conn.execute(
            insert(silences_table).values(
                id="old-silence",
                matchers=['item=~"(?!db).*"'],
                starts_at=NOW - 10,
                ends_at=NOW + 3600,
                created_by="carol",
                comment="",
                created_at=NOW - 10,
            )
        )
    (shown,) = await _get(http, f"{base}/api/v2/silences?filter=item%3D~%22.%2A%22", auth["read"])
    assert shown["matchers"] == [
        {"name": "item", "value": "(?!db).*", "isRegex": True, "isEqual": True}
    ]


async def test_an_alert_in_a_maintenance_window_is_suppressed_and_counts_as_silenced(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """A maintenance window, which Alertmanager lacks, suppresses an alert and is named in its
    silencedBy ("maintenance:NAME", no silence id); `silenced=false` leaves it out, as it does
    silenced alerts."""
    await pipeline.submit((alert("lab1"), alert("db1")))
    by_item = {
        a["labels"]["item"]: a for a in await _get(http, f"{base}/api/v2/alerts", auth["read"])
    }
    assert by_item["lab1"]["status"] == {
        "state": "suppressed",
        "silencedBy": ["maintenance:patching"],
        "inhibitedBy": [],
    }
    url = f"{base}/api/v2/alerts?silenced=false"
    assert [a["labels"]["item"] for a in await _get(http, url, auth["read"])] == ["db1"]
    url = f"{base}/api/v2/alerts?silenced=false&inhibited=true&active=false"
    assert await _get(http, url, auth["read"]) == []


async def test_a_cluster_on_postgresql_is_ready_with_its_live_nodes_as_peers(
    base: str, http: aiohttp.ClientSession, auth: Headers, cluster_status: dict[str, Any]
) -> None:
    """On PostgreSQL the status shows the cluster ready, with each live node (not the dead
    ones) as a peer named with its API address."""
    cluster_status.update(
        single_node=False,
        nodes=[
            {"name": "node-a", "state": "live", "api": "10.0.0.1:9797", "host": "a"},
            {"name": "node-b", "state": "live", "api": "", "host": "b.example"},
            {"name": "node-c", "state": "dead", "api": "10.0.0.3:9797", "host": "c"},
        ],
    )
    status = await _get(http, f"{base}/api/v2/status", auth["read"])
    assert status["cluster"] == {
        "name": "node-a",
        "status": "ready",
        "peers": [
            {"name": "node-a", "address": "10.0.0.1:9797"},
            {"name": "node-b", "address": "b.example"},
        ],
    }


async def test_a_silence_time_without_a_zone_is_utc(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """An endsAt without a zone is read as UTC, whatever the host's zone."""
    body = _silence(
        [{"name": "item", "value": "db1", "isRegex": False}], endsAt="2027-01-15T12:00:00"
    )
    async with http.post(f"{base}/api/v2/silences", json=body, headers=auth["write"]) as resp:
        silence_id = (await resp.json())["silenceID"]
    shown = await _get(http, f"{base}/api/v2/silence/{silence_id}", auth["read"])
    assert shown["endsAt"] == "2027-01-15T12:00:00.000Z"


def test_the_status_config_is_the_route_tree_as_alertmanager_config_without_settings() -> None:
    """config.original is an Alertmanager config of watchd's tree: one receiver per route
    (several joined with +, the root's unset receivers all of them), Go durations, the inhibit
    rules, and the receivers' names only: a receiver's URL may carry a secret."""
    raw = {
        **BASE_CONFIG,
        **ROUTED,
        "receivers": [
            {"name": "hook", "kind": "webhook", "url": "http://x/?key=s3cret"},
            {"name": "log", "kind": "log"},
        ],
    }
    raw["route"] = {"group_by": ["item"], "group_wait": "30s", "repeat_interval": "90m"}
    raw["route"]["routes"] = [
        {"matchers": ['team="db"'], "receivers": ["hook"], "continue": True},
        {"matchers": ['severity="critical"'], "group_interval": "0s"},
    ]
    config = parse_config(raw, Path("test.toml"))
    text = alertmanager_config(
        config.route, [r.name for r in config.receivers], (), config.inhibit_rules
    )
    assert yaml.safe_load(text) == {
        "route": {
            "receiver": "hook+log",
            "group_by": ["item"],
            "group_wait": "30s",
            "repeat_interval": "1h30m",
            "routes": [
                {"receiver": "hook", "continue": True, "matchers": ['team="db"']},
                {"matchers": ['severity="critical"']},  # inherits; no zero group_interval
            ],
        },
        "receivers": [{"name": "hook"}, {"name": "log"}, {"name": "hook+log"}],
        "inhibit_rules": ROUTED["inhibit_rules"],
    }
    assert "s3cret" not in text
