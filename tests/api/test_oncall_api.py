"""The on-call API on a real loopback server: who is on call, shifts over a range, overrides
added and deleted with a write token, refused without one, and bad input named."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from tests.api.conftest import TOKEN_NAMES
from watchd.api.oncall import OncallSource, add_routes
from watchd.clock import FakeClock
from watchd.people.config import PeopleConfig
from watchd.store import Store

pytestmark = pytest.mark.integration
Headers = dict[str, dict[str, str]]
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN).timestamp()  # alice's day (odd turn: bob's)

PEOPLE = PeopleConfig.model_validate(
    {
        "users": [{"name": "alice", "display_name": "Alice Li"}, {"name": "bob"}],
        "schedules": [
            {
                "name": "primary",
                "timezone": "Europe/Berlin",
                "layers": [
                    {
                        "name": "daily",
                        "users": ["alice", "bob"],
                        "start": "2026-11-30T09:00",
                        "rotation": "1d",
                    }
                ],
            },
            {
                "name": "office",
                "layers": [
                    {
                        "name": "weekdays",
                        "users": ["bob"],
                        "start": "2026-11-30T00:00",
                        "rotation": "1w",
                        "restrictions": [{"days": ["mon"], "from": "09:00", "to": "17:00"}],
                    }
                ],
            },
        ],
    }
)


@pytest.fixture
async def base(
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    tmp_path: Path,
) -> AsyncIterator[str]:
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock())
    app = make_app(token_names=TOKEN_NAMES)
    add_routes(app, OncallSource(lambda: PEOPLE, store.engine, FakeClock(NOW)))
    yield await serve(app)
    await store.close()


async def test_every_schedule_shows_who_is_on_call_now_and_the_week_ahead(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """GET /api/v1/oncall lists each schedule with who is on call now (or nobody) and the
    shifts of the next 7 days."""
    async with http.get(f"{base}/api/v1/oncall", headers=auth["read"]) as resp:
        assert resp.status == 200
        primary, office = (await resp.json())["schedules"]
    (now,) = primary["on_call"]
    assert (now["user"], now["display_name"], now["layer"]) == ("bob", "", "daily")
    assert (now["start_local"], now["end_local"]) == (
        "2026-12-01T09:00+01:00",
        "2026-12-02T09:00+01:00",
    )
    assert len(primary["shifts"]) == 8 and primary["gaps"] == []
    assert (
        office["on_call"] == [] and office["shifts"][0]["start_local"] == "2026-12-07T09:00+00:00"
    )


async def test_one_schedule_over_a_range_in_its_local_time(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """from/to without an offset are local to the schedule; `at` picks the moment asked about."""
    query = "at=2026-11-30T09:00&from=2026-11-30T00:00&to=2026-12-01T12:00"
    async with http.get(f"{base}/api/v1/oncall/primary?{query}", headers=auth["read"]) as resp:
        view = await resp.json()
    assert [s["user"] for s in view["on_call"]] == ["alice"]
    assert [(s["user"], s["start_local"]) for s in view["shifts"]] == [
        ("alice", "2026-11-30T09:00+01:00"),
        ("bob", "2026-12-01T09:00+01:00"),
    ]
    assert view["gaps"][0]["end_local"] == "2026-11-30T09:00+01:00"


async def test_an_override_is_added_listed_and_deleted_with_its_author(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """A write token adds an override (author: the `by` field with the token's name); it shows
    in the schedule and its list, and is gone after DELETE."""
    body = {
        "user": "alice",
        "start": "2026-12-01T09:30",
        "end": "2026-12-01T12:00",
        "reason": "bob is on a plane",
        "by": "carol",
    }
    url = f"{base}/api/v1/oncall/primary/overrides"
    async with http.post(url, json=body, headers=auth["write"]) as resp:
        assert resp.status == 201
        added = await resp.json()
    assert added["author"] == "carol via token ops-dashboard"
    assert added["start"] == datetime(2026, 12, 1, 9, 30, tzinfo=BERLIN).timestamp()
    async with http.get(f"{base}/api/v1/oncall/primary", headers=auth["read"]) as resp:
        (now,) = (await resp.json())["on_call"]
    assert (now["user"], now["layer"], now["end_local"]) == (
        "alice",
        "override",
        "2026-12-01T12:00+01:00",
    )
    async with http.get(f"{url}?limit=1", headers=auth["read"]) as resp:
        listed = await resp.json()
    assert [o["id"] for o in listed["overrides"]] == [added["id"]]
    assert (listed["total"], listed["limit"], listed["next"]) == (1, 1, None)
    async with http.delete(f"{url}/{added['id']}", headers=auth["write"]) as resp:
        assert resp.status == 200
    async with http.delete(f"{url}/{added['id']}", headers=auth["write"]) as resp:
        assert resp.status == 404
    async with http.get(url, headers=auth["read"]) as resp:
        assert (await resp.json())["overrides"] == []


async def test_overrides_need_a_write_token(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """Without a token the on-call routes are 401; a read token cannot add or delete (403)."""
    url = f"{base}/api/v1/oncall/primary/overrides"
    body = {"user": "alice", "start": NOW, "end": NOW + 60, "reason": "x"}
    async with http.get(f"{base}/api/v1/oncall") as resp:
        assert resp.status == 401
    async with http.post(url, json=body, headers=auth["read"]) as resp:
        assert resp.status == 403
    async with http.delete(f"{url}/1", headers=auth["read"]) as resp:
        assert resp.status == 403


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"user": "zed", "start": NOW, "end": NOW + 60, "reason": "x"}, 400, "Field 'user'"),
        ({"user": "bob", "start": NOW, "end": NOW - 60, "reason": "x"}, 400, "Field 'end'"),
        ({"user": "bob", "start": NOW, "end": NOW + 60}, 400, "Field 'reason'"),
        ({"user": "bob", "start": NOW, "end": NOW + 60, "reason": "x" * 1001}, 400, "'reason'"),
        ({"user": "bob", "start": NOW, "end": NOW + 60, "reason": "x", "x": 1}, 400, "Field 'x'"),
    ],
)
async def test_a_bad_override_is_refused_naming_the_field(
    base: str,
    http: aiohttp.ClientSession,
    auth: Headers,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    """An unknown user, an end before the start, no reason, an overlong reason or an unknown
    field is a 400 naming it; nothing is stored."""
    url = f"{base}/api/v1/oncall/primary/overrides"
    async with http.post(url, json=body, headers=auth["write"]) as resp:
        assert resp.status == status
        assert message in (await resp.json())["error"]
    async with http.get(url, headers=auth["read"]) as resp:
        assert (await resp.json())["overrides"] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/oncall/nope", 404),
        ("/api/v1/oncall/nope/overrides", 404),
        ("/api/v1/oncall/primary?from=yesterday", 400),
        ("/api/v1/oncall/primary?from=2026-12-01&to=2026-11-01", 400),
        ("/api/v1/oncall/primary?from=2026-01-01&to=2026-12-01", 400),
        ("/api/v1/oncall/primary?at=inf", 400),
        ("/api/v1/oncall/primary?at=1e300", 400),
        ("/api/v1/oncall/primary?from=9999-12-31T00:00", 400),
        ("/api/v1/oncall?from=-5", 400),
    ],
)
async def test_an_unknown_schedule_is_404_and_a_bad_range_400(
    base: str, http: aiohttp.ClientSession, auth: Headers, path: str, status: int
) -> None:
    """An unknown schedule is 404; an unreadable time, one past year 9000 or before 1970, an
    inverted range or one over 92 days is 400."""
    async with http.get(f"{base}{path}", headers=auth["read"]) as resp:
        assert resp.status == status, await resp.text()


async def test_the_openapi_document_lists_the_oncall_routes(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """The OpenAPI document has the on-call routes with their scopes and the override body."""
    async with http.get(f"{base}/api/openapi.json", headers=auth["read"]) as resp:
        doc = await resp.json()
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/oncall/{schedule}/overrides"])
    assert "delete" in paths["/api/v1/oncall/{schedule}/overrides/{id}"]
    post = paths["/api/v1/oncall/{schedule}/overrides"]["post"]
    assert post["security"] == [{"bearer": ["write"]}]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"user", "start", "end", "reason"} <= set(schema["required"])


async def test_the_current_shift_starts_where_an_earlier_override_ended(
    base: str, http: aiohttp.ClientSession, auth: Headers
) -> None:
    """An override that is over already still bounds the shift after it: bob is on call since
    its end (09:30), not since his hand-off (09:00)."""
    body = {"user": "alice", "start": "2026-12-01T09:00", "end": "2026-12-01T09:30", "reason": "x"}
    url = f"{base}/api/v1/oncall/primary"
    async with http.post(f"{url}/overrides", json=body, headers=auth["write"]) as resp:
        assert resp.status == 201
    async with http.get(url, headers=auth["read"]) as resp:
        (now,) = (await resp.json())["on_call"]
    assert (now["user"], now["start_local"]) == ("bob", "2026-12-01T09:30+01:00")
