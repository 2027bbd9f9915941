"""The incident API on a real loopback server: lifecycle, comments, silences, changes, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.pipeline.conftest import alert, settings_from
from watchd.api.incidents import add_routes
from watchd.clock import FakeClock
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.store import Store

pytestmark = pytest.mark.integration
Headers = dict[str, dict[str, str]]


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[AlertPipeline]:
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock())
    yield AlertPipeline(store.engine, clock=FakeClock(), settings=settings_from({}))
    await store.close()


@pytest.fixture
async def base(
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    pipeline: AlertPipeline,
) -> str:
    app = make_app()
    add_routes(
        app,
        IncidentService(pipeline.engine, clock=FakeClock(), settings=lambda: pipeline.settings),
    )
    return await serve(app)


async def test_incident_lifecycle_through_the_api(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """List, ack, comment, resolve, close: each shows in the incident's timeline with who."""
    await pipeline.submit((alert("db1"),))
    async with http.get(f"{base}/api/v1/incidents?state=open", headers=auth["read"]) as resp:
        (incident,) = (await resp.json())["incidents"]
    url = f"{base}/api/v1/incidents/{incident['id']}"
    async with http.post(f"{url}/ack", json={"by": "alice"}, headers=auth["write"]) as resp:
        assert resp.status == 200
        assert (await resp.json())["acknowledged_by"] == "alice"
    async with http.post(f"{url}/ack", json={"by": "alice"}, headers=auth["write"]) as resp:
        assert resp.status == 409
    async with http.post(
        f"{url}/comment", json={"by": "bob", "text": "disk replaced"}, headers=auth["write"]
    ) as resp:
        assert resp.status == 200
    for action in ("resolve", "close"):
        async with http.post(f"{url}/{action}", json={"by": "bob"}, headers=auth["write"]) as r:
            assert r.status == 200
    async with http.get(url, headers=auth["read"]) as resp:
        shown = await resp.json()
    assert shown["state"] == "closed" and shown["closed_by"] == "bob"
    assert shown["alerts"][0]["labels"]["item"] == "db1"
    kinds = [(e["kind"], e["actor"]) for e in shown["timeline"]]
    assert ("acknowledged", "alice") in kinds and ("comment", "bob") in kinds
    assert ("resolved", "bob") in kinds and ("closed", "bob") in kinds


async def test_actions_need_write_scope_and_unknown_incident_is_404(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A read token cannot acknowledge (403); acknowledging a missing incident is 404."""
    async with http.post(f"{base}/api/v1/incidents/1/ack", headers=auth["read"]) as resp:
        assert resp.status == 403
    async with http.post(f"{base}/api/v1/incidents/99/ack", headers=auth["write"]) as resp:
        assert resp.status == 404
        assert "99" in (await resp.json())["error"]


async def test_silences_are_created_listed_and_expired(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """POST creates a silence (bad matchers are a 400 naming the field), DELETE expires it."""
    body = {"matchers": ['item="db1"'], "duration": "2h", "created_by": "ops"}
    async with http.post(f"{base}/api/v1/silences", json=body, headers=auth["write"]) as resp:
        assert resp.status == 201
        silence_id = (await resp.json())["id"]
    bad = {**body, "matchers": ['item=~"("']}
    async with http.post(f"{base}/api/v1/silences", json=bad, headers=auth["write"]) as resp:
        assert resp.status == 400
        assert "matchers" in (await resp.json())["error"]
    async with http.get(f"{base}/api/v1/silences", headers=auth["read"]) as resp:
        assert [s["id"] for s in (await resp.json())["silences"]] == [silence_id]
    url = f"{base}/api/v1/silences/{silence_id}"
    async with http.delete(url, headers=auth["write"]) as resp:
        assert resp.status == 200
    async with http.get(f"{base}/api/v1/silences", headers=auth["read"]) as resp:
        assert (await resp.json())["silences"] == []


async def test_a_silence_is_extended_by_replacing_it_in_one_step(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """POST with replaces ends the old silence and starts its longer successor together (one running, never none); replacing an unknown silence is a 404 and adds nothing."""
    body = {"matchers": ['item="db1"'], "duration": "1h", "created_by": "ops"}
    async with http.post(f"{base}/api/v1/silences", json=body, headers=auth["write"]) as resp:
        old = await resp.json()
    longer = {**body, "duration": "3h", "replaces": old["id"]}
    async with http.post(f"{base}/api/v1/silences", json=longer, headers=auth["write"]) as resp:
        assert resp.status == 201
        new = await resp.json()
    async with http.get(f"{base}/api/v1/silences", headers=auth["read"]) as resp:
        assert [s["id"] for s in (await resp.json())["silences"]] == [new["id"]]
    assert new["ends_at"] == old["ends_at"] + 7200
    unknown = {**body, "replaces": "no-such-silence"}
    async with http.post(f"{base}/api/v1/silences", json=unknown, headers=auth["write"]) as resp:
        assert resp.status == 404
    async with http.get(f"{base}/api/v1/silences", headers=auth["read"]) as resp:
        assert len((await resp.json())["silences"]) == 1


async def test_changes_reject_unknown_items(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A change on a configured item is recorded; on an unknown item it is a 400."""
    body = {"item": "switch", "summary": "firmware", "starts_at": 1.8e9, "ends_at": 1.8e9 + 600}
    async with http.post(f"{base}/api/v1/changes", json=body, headers=auth["write"]) as resp:
        assert resp.status == 201
    body["item"] = "nope"
    async with http.post(f"{base}/api/v1/changes", json=body, headers=auth["write"]) as resp:
        assert resp.status == 400
        assert "nope" in (await resp.json())["error"]


@pytest.fixture
async def named(
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    pipeline: AlertPipeline,
) -> str:
    """The incident routes with the write token named "oncall", one incident open."""
    app = make_app(token_names={"write-token-77aa": "oncall"})
    add_routes(
        app,
        IncidentService(pipeline.engine, clock=FakeClock(), settings=lambda: pipeline.settings),
    )
    await pipeline.submit((alert("db1"),))
    return await serve(app)


async def test_a_by_field_is_recorded_alongside_the_tokens_name(
    named: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """An acknowledgement by "alice" with the token named "oncall" is recorded as "alice via token oncall", in the incident and its timeline."""
    url = f"{named}/api/v1/incidents/1"
    async with http.post(f"{url}/ack", json={"by": "alice"}, headers=auth["write"]) as resp:
        assert (await resp.json())["acknowledged_by"] == "alice via token oncall"
    body = {"by": "oncall", "comment": "done"}
    async with http.post(f"{url}/resolve", json=body, headers=auth["write"]) as resp:
        assert (await resp.json())["resolved_by"] == "oncall"  # not named twice
    async with http.get(url, headers=auth["read"]) as resp:
        actors = {e["kind"]: e["actor"] for e in (await resp.json())["timeline"]}
    assert actors["acknowledged"] == "alice via token oncall"


async def test_without_a_by_field_the_actor_is_the_tokens_name(
    named: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """An acknowledgement and a silence made with the token named "oncall" are recorded as by "oncall"."""
    async with http.post(f"{named}/api/v1/incidents/1/ack", headers=auth["write"]) as resp:
        assert resp.status == 200
        assert (await resp.json())["acknowledged_by"] == "oncall"
    body = {"matchers": ['item="db1"'], "duration": "1h"}
    async with http.post(f"{named}/api/v1/silences", json=body, headers=auth["write"]) as resp:
        assert resp.status == 201
        assert (await resp.json())["created_by"] == "oncall"


async def test_a_problem_is_closed_with_who_and_why_once(
    base: str, http: aiohttp.ClientSession, auth: Headers, pipeline: AlertPipeline
) -> None:
    """POST .../problems/{id}/close records the closer and the comment; a second close is 409,
    an unknown problem 404, a read token 403."""
    clock = FakeClock()
    driver = AlertPipeline(pipeline.engine, clock=clock, settings=pipeline.settings)
    for _ in range(3):  # the key recurring three times in a week opens a problem
        await driver.submit((alert("db1"),))
        await driver.submit((alert("db1", firing=False),))
        await clock.advance(7200)
    async with http.get(f"{base}/api/v1/problems?state=open", headers=auth["read"]) as resp:
        (problem,) = (await resp.json())["problems"]
    url = f"{base}/api/v1/problems/{problem['id']}/close"
    body = {"by": "ana", "comment": "replaced the disk"}
    async with http.post(url, json=body, headers=auth["read"]) as resp:
        assert resp.status == 403
    async with http.post(url, json=body, headers=auth["write"]) as resp:
        assert resp.status == 200
        closed = await resp.json()
    assert (closed["state"], closed["closed_by"], closed["resolution"]) == (
        "closed",
        "ana",
        "replaced the disk",
    )
    assert closed["incidents"] == problem["incidents"]
    async with http.post(url, json=body, headers=auth["write"]) as resp:
        assert resp.status == 409
        assert "closed already" in (await resp.json())["error"]
    async with http.post(
        f"{base}/api/v1/problems/999/close", json=body, headers=auth["write"]
    ) as resp:
        assert resp.status == 404
