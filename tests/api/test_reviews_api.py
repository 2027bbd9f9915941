"""Post-incident reviews over the API on a real loopback server, on SQLite and on PostgreSQL:
start from the incident's timeline, edit, add and finish actions, scopes and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import insert, update

from tests.api.conftest import TOKEN_NAMES
from tests.pipeline.conftest import alert, settings_from
from watchd.api import reviews as review_routes
from watchd.clock import FakeClock
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.reviews import ReviewService
from watchd.store import Store
from watchd.store.incident_tables import incidents, problems

pytestmark = pytest.mark.integration
Headers = dict[str, dict[str, str]]
DAY = 86400.0


@dataclass
class World:
    base: str
    incident_id: int
    incidents: IncidentService
    pipeline: AlertPipeline
    clock: FakeClock


@pytest.fixture
async def world(
    fresh_db_url: str,
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
) -> AsyncIterator[World]:
    """The review API over a store with one incident, acknowledged by alice."""
    clock = FakeClock()
    store = await Store.open(fresh_db_url, clock=clock)
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings_from({}))
    service = IncidentService(store.engine, clock=clock, settings=lambda: pipeline.settings)
    await pipeline.submit((alert("db1"),))
    (incident,) = await service.list_incidents()
    await clock.advance(120)
    await service.acknowledge(incident["id"], "alice", "looking at the disk")
    app = make_app(token_names=TOKEN_NAMES)
    review_routes.add_routes(app, ReviewService(store.engine, clock=clock))
    try:
        yield World(await serve(app), incident["id"], service, pipeline, clock)
    finally:
        await store.close()


async def test_a_review_round_trip_from_the_incident_timeline_to_done_actions(
    world: World, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """An operator starts a review whose timeline is the incident's, writes impact and cause, adds actions with owner and due date, and marks one done."""
    base, now = world.base, world.clock.now()
    body = {
        "incident": world.incident_id,
        "by": "carol",
        "impact": "orders failed for 2 minutes",
        "actions": [
            {"kind": "corrective", "text": "grow the volume", "owner": "bob", "due": now + DAY}
        ],
    }
    async with http.post(f"{base}/api/v1/reviews", json=body, headers=auth["write"]) as resp:
        assert resp.status == 201, await resp.text()
        review = await resp.json()
    assert review["incident_id"] == world.incident_id and review["problem_id"] is None
    assert review["title"].startswith("Review: ")
    assert review["created_by"] == "carol via token ops-dashboard"
    texts = [entry["text"] for entry in review["timeline"]]
    assert texts[0].startswith("opened")
    assert "acknowledged by alice: comment looking at the disk" in texts
    assert [a["owner"] for a in review["actions"]] == ["bob"]
    url = f"{base}/api/v1/reviews/{review['id']}"

    async with http.post(f"{base}/api/v1/reviews", json=body, headers=auth["write"]) as resp:
        assert resp.status == 409  # one review per incident

    patch = {
        "cause": "log rotation stopped",
        "timeline": [*review["timeline"], {"time": "2027-02-01T00:00:00Z", "text": "fixed"}],
    }
    async with http.patch(url, json=patch, headers=auth["write"]) as resp:
        assert resp.status == 200, await resp.text()
        edited = await resp.json()
    assert edited["cause"] == "log rotation stopped"
    assert edited["impact"] == "orders failed for 2 minutes"  # left out: kept
    assert edited["timeline"][-1] == {"time": 1801440000.0, "text": "fixed"}

    action = {
        "kind": "preventive",
        "text": "alert on rotation",
        "owner": "dave",
        "due": "2020-01-01",
    }
    async with http.post(f"{url}/actions", json=action, headers=auth["write"]) as resp:
        assert resp.status == 201
        actions = (await resp.json())["actions"]
    _first, second = actions
    assert second["due"] == 1577836800.0 and second["done"] is False

    async with http.get(f"{base}/api/v1/reviews/overdue", headers=auth["read"]) as resp:
        overdue = (await resp.json())["actions"]
    assert [(a["id"], a["review_id"]) for a in overdue] == [(second["id"], review["id"])]

    async with http.patch(
        f"{url}/actions/{second['id']}", json={"done": True, "by": "dave"}, headers=auth["write"]
    ) as resp:
        assert resp.status == 200
        done = (await resp.json())["actions"][1]
    assert done["done"] is True and done["done_by"] == "dave via token ops-dashboard"
    assert done["done_at"] == world.clock.now()
    async with http.get(f"{base}/api/v1/reviews/overdue", headers=auth["read"]) as resp:
        assert (await resp.json())["actions"] == []

    async with http.get(
        f"{base}/api/v1/reviews?incident={world.incident_id}", headers=auth["read"]
    ) as resp:
        assert (await resp.json())["id"] == review["id"]
    async with http.get(f"{base}/api/v1/reviews", headers=auth["read"]) as resp:
        listed = await resp.json()
    assert listed["total"] == 1 and listed["reviews"][0]["cause"] == "log rotation stopped"


async def test_a_problem_review_gathers_the_timelines_of_its_incidents(
    world: World, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A problem's review starts with the events of every incident linked to it, each named by its incident."""
    async with world.pipeline.engine.begin() as conn:
        result = await conn.execute(
            insert(problems)
            .values(key="k", title="db1 keeps failing", state="open", opened_at=0.0)
            .returning(problems.c.id)
        )
        problem_id = result.scalar_one()
        await conn.execute(
            update(incidents)
            .where(incidents.c.id == world.incident_id)
            .values(problem_id=problem_id)
        )
    async with http.post(
        f"{world.base}/api/v1/reviews", json={"problem": problem_id}, headers=auth["write"]
    ) as resp:
        assert resp.status == 201, await resp.text()
        review = await resp.json()
    assert review["title"] == "Review: db1 keeps failing"
    assert review["timeline"][0]["text"].startswith(f"incident {world.incident_id}: opened")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "give one of the two"),
        ({"incident": 1, "problem": 1}, 400, "give one of the two"),
        ({"incident": 999}, 404, "There is no incident 999."),
        ({"incident": 1, "impact": "x" * 20_001}, 400, "Field 'impact'"),
        (
            {"incident": 1, "actions": [{"kind": "later", "text": "t", "owner": "o", "due": 0}]},
            400,
            "Field 'actions.0.kind'",
        ),
        (
            {
                "incident": 1,
                "actions": [{"kind": "corrective", "text": "t", "owner": "o", "due": 1e13}],
            },
            400,
            "Field 'actions.0.due'",
        ),
        ({"incident": 1, "color": "red"}, 400, "Field 'color'"),
    ],
)
async def test_bad_review_bodies_get_a_400_or_404_naming_the_field(
    world: World,
    http: aiohttp.ClientSession,
    auth: Headers,
    body: dict[str, object],
    status: int,
    error: str,
) -> None:
    """A malformed or oversized review is refused with the field named, and nothing is stored."""
    async with http.post(f"{world.base}/api/v1/reviews", json=body, headers=auth["write"]) as resp:
        assert resp.status == status
        assert error in (await resp.json())["error"]
    async with http.get(f"{world.base}/api/v1/reviews", headers=auth["read"]) as resp:
        assert (await resp.json())["total"] == 0


async def test_writing_reviews_needs_a_write_token(
    world: World, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Without a token a review cannot be read or written; a read token reads but cannot write."""
    body = {"incident": world.incident_id}
    async with http.post(f"{world.base}/api/v1/reviews", json=body) as resp:
        assert resp.status == 401
    async with http.post(f"{world.base}/api/v1/reviews", json=body, headers=auth["read"]) as resp:
        assert resp.status == 403
    async with http.get(f"{world.base}/api/v1/reviews") as resp:
        assert resp.status == 401
    async with http.patch(
        f"{world.base}/api/v1/reviews/1", json={"cause": "x"}, headers=auth["write"]
    ) as resp:
        assert resp.status == 404


async def test_an_edit_from_a_stale_copy_gets_409_instead_of_undoing_anothers(
    world: World, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Two editors read the review at version 1; the first saves (version 2, its ETag), the second's save from version 1 - as a `version` field, an If-Match header, or an action added or ticked - gets 409 saying who changed it and to reload, and the first's cause stays; with the current version it goes through."""
    base, write = world.base, auth["write"]
    start = {"incident": world.incident_id, "by": "carol"}
    async with http.post(f"{base}/api/v1/reviews", json=start, headers=write) as resp:
        review = await resp.json()
    url = f"{base}/api/v1/reviews/{review['id']}"
    async with http.get(url, headers=auth["read"]) as resp:
        assert (await resp.json())["version"] == 1 and resp.headers["ETag"] == '"1"'
    first = {"cause": "the disk filled up", "by": "alice", "version": 1}
    async with http.patch(url, json=first, headers=write) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["version"] == 2 and resp.headers["ETag"] == '"2"'
    stale = {"cause": "a network blip", "by": "bob", "version": 1}
    async with http.patch(url, json=stale, headers=write) as resp:
        assert resp.status == 409
        error = (await resp.json())["error"]
    assert error == (
        f"Review {review['id']} was changed by alice via token ops-dashboard since you read it "
        "(your version 1, now 2): reload it and make your change again."
    )
    by_header = {**write, "If-Match": '"1"'}
    async with http.patch(url, json={"cause": "a network blip"}, headers=by_header) as resp:
        assert resp.status == 409
    action = {"kind": "corrective", "text": "alert at 80%", "owner": "bob", "due": 2e9}
    async with http.post(f"{url}/actions", json={**action, "version": 1}, headers=write) as resp:
        assert resp.status == 409
    async with http.get(url, headers=auth["read"]) as resp:
        now = await resp.json()
    assert (now["cause"], now["version"], now["actions"]) == ("the disk filled up", 2, [])
    async with http.post(f"{url}/actions", json={**action, "version": 2}, headers=write) as resp:
        assert resp.status == 201
        added = await resp.json()
    tick = f"{url}/actions/{added['actions'][0]['id']}"
    async with http.patch(tick, json={"done": True, "version": 2}, headers=write) as resp:
        assert resp.status == 409
    async with http.patch(tick, json={"done": True, "version": 3}, headers=write) as resp:
        assert resp.status == 200 and (await resp.json())["version"] == 4
    async with http.patch(url, json={"cause": "x"}, headers={**write, "If-Match": "v1"}) as resp:
        assert resp.status == 400 and "If-Match" in (await resp.json())["error"]
