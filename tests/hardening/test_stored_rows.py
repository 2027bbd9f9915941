"""Issue 19, finding 8: rows stored before the API refused them (silences and changes ending at
Infinity, 1e300 or 1e13, alert times out of range, a lone surrogate in a comment) never make a
page or an API answer fail, and such changes and silences can still be ended."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert, update

from tests.hardening.served import Served, served_api
from watchd.store.engine import write_transaction
from watchd.store.incident_tables import changes, silences
from watchd.store.tables import alerts
from watchd.timestamps import LATEST

pytestmark = pytest.mark.integration
ENDS = (math.inf, 1e300, 1e13)


@pytest.fixture
async def api(fresh_db_url: str) -> AsyncIterator[Served]:
    """The served API whose store holds a silence and a change ending at each of ENDS (and
    NaN on PostgreSQL, which stores it), stored directly as an older watchd stored them."""
    async with served_api(fresh_db_url) as served:
        now = served.clock.now()
        ends = ENDS + ((math.nan,) if fresh_db_url.startswith("postgresql") else ())
        async with write_transaction(served.engine) as conn:
            for n, end in enumerate(ends):
                await conn.execute(
                    insert(silences).values(
                        id=f"s{n}",
                        matchers=['item="web1"'],
                        starts_at=now - 60,
                        ends_at=end,
                        created_by="old",
                        comment=f"until {end}",
                        created_at=now - 60,
                    )
                )
                await conn.execute(
                    insert(changes).values(
                        id=n + 1,
                        item="web1",
                        summary=f"until {end}",
                        starts_at=now - 60,
                        ends_at=end,
                        ticket="",
                        created_by="old",
                        created_at=now - 60,
                    )
                )
        yield served


async def stored(api: Served) -> int:
    """How many bad silences (and as many changes) the fixture stored."""
    return len(await api.incidents.silences(include_expired=True))


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


def strict(text: str) -> Any:
    """`text` parsed as strict JSON: NaN or Infinity fail the test."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


async def test_silences_page_and_apis_render_silences_and_changes_ending_at_infinity(
    api: Served,
) -> None:
    """/silences shows them ending 9999-12-31 23:59:59 (the last time it can show);
    /api/v1/silences and /api/v1/changes answer strict JSON with the end clamped."""
    async with aiohttp.ClientSession() as http:
        status, page = await get(http, f"{api.base}/silences")
        assert status == 200, page
        assert page.count("9999-12-31 23:59:59 UTC") >= 2 * await stored(api)
        assert "until inf" in page and "until 1e+300" in page
        status, text = await get(http, f"{api.base}/api/v1/silences")
        assert status == 200, text
        assert {s["ends_at"] for s in strict(text)["silences"]} == {LATEST}
        status, text = await get(http, f"{api.base}/api/v1/changes")
        assert status == 200, text
        assert {c["ends_at"] for c in strict(text)["changes"]} == {LATEST}


async def test_such_silences_and_changes_can_be_ended(api: Served) -> None:
    """Expiring each silence and ending each change works; the pages still render after."""
    async with aiohttp.ClientSession() as http:
        for n in range(await stored(api)):
            async with http.delete(f"{api.base}/api/v1/silences/s{n}") as resp:
                assert resp.status == 200, await resp.text()
            async with http.delete(f"{api.base}/api/v1/changes/{n + 1}") as resp:
                assert resp.status == 200, await resp.text()
                assert (await resp.json()) == {"ended": n + 1}
        status, text = await get(http, f"{api.base}/api/v1/silences")
        assert strict(text)["silences"] == []
        status, text = await get(http, f"{api.base}/api/v1/changes")
        assert {c["ends_at"] for c in strict(text)["changes"]} == {api.clock.now()}
        status, page = await get(http, f"{api.base}/silences")
        assert status == 200 and "until inf" not in page


async def test_alert_times_stored_out_of_range_render(api: Served) -> None:
    """An alert stored with startsAt Infinity (before ingestion refused it) leaves the incident
    page, the alert list and the incident API answering, in strict JSON."""
    async with write_transaction(api.engine) as conn:
        await conn.execute(update(alerts).values(starts_at=math.inf, ends_at=1e13))
    async with aiohttp.ClientSession() as http:
        for path in (f"/incidents/{api.incident_id}", "/"):
            status, page = await get(http, api.base + path)
            assert status == 200, page
        for path in (f"/api/v1/incidents/{api.incident_id}", "/api/v1/alerts"):
            status, text = await get(http, api.base + path)
            assert status == 200, text
            assert "Infinity" not in text
            strict(text)


async def test_a_stored_lone_surrogate_renders(api: Served) -> None:
    """A comment holding a lone surrogate (stored by an older `watchd comment` from bytes that
    were not UTF-8) leaves the incident page answering, with the character escaped."""
    await api.incidents.comment(api.incident_id, "bob", "broken \udc80 byte")
    async with aiohttp.ClientSession() as http:
        status, page = await get(http, f"{api.base}/incidents/{api.incident_id}")
        assert status == 200, page
        assert "broken \\udc80 byte" in page
        status, text = await get(http, f"{api.base}/api/v1/incidents/{api.incident_id}")
        assert status == 200, text
