"""Finding 11 of issue 19: every list says how long it is and can be paged, in the API and on
the dashboard; a served API over a real SQLite store with 251 open incidents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.api.dashboard_world import Served, served_dashboard

MORE = 250  # incidents besides the world's one


@pytest.fixture
async def crowded(tmp_path: Path) -> AsyncIterator[tuple[Served, aiohttp.ClientSession]]:
    """The dashboard world (no tokens) with 251 open incidents, one alert each."""
    async with served_dashboard(tmp_path, {}) as served, aiohttp.ClientSession() as http:
        for start in range(0, MORE, 125):
            alerts = [
                {"labels": {"alertname": "Load", "item": f"host{i}", "severity": "warning"}}
                for i in range(start, start + 125)
            ]
            async with http.post(f"{served.base}/api/v2/alerts", json=alerts) as resp:
                assert resp.status == 200, await resp.text()
        yield served, http


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], dict]:  # type: ignore[type-arg]
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_incidents_and_alerts_come_in_pages_with_their_total(
    crowded: tuple[Served, aiohttp.ClientSession],
) -> None:
    """A client asking for incidents or alerts learns there are 251, gets at most 200 at a time and a link to the next ones."""
    served, http = crowded
    for key in ("incidents", "alerts"):
        status, headers, body = await _get(http, f"{served.base}/api/v1/{key}")
        assert status == 200
        assert (len(body[key]), body["total"], body["limit"], body["offset"]) == (200, 251, 200, 0)
        assert body["next"] == f"/api/v1/{key}?offset=200&limit=200"
        assert headers["Link"] == f'<{body["next"]}>; rel="next"'
        assert headers["X-Total-Count"] == "251"
        status, _, last = await _get(http, f"{served.base}/api/v1/{key}?limit=100&offset=200")
        assert (len(last[key]), last["total"], last["next"]) == (51, 251, None)
        seen = {r["id" if key == "incidents" else "fingerprint"] for r in body[key]}
        assert not seen & {r["id" if key == "incidents" else "fingerprint"] for r in last[key]}


async def test_every_list_endpoint_says_its_total(
    crowded: tuple[Served, aiohttp.ClientSession],
) -> None:
    """Silences, changes and problems answer with total, limit, offset and next beside their list."""
    served, http = crowded
    for key in ("silences", "changes", "problems"):
        status, _, body = await _get(http, f"{served.base}/api/v1/{key}?limit=5")
        assert status == 200
        assert {key, "total", "limit", "offset", "next"} <= body.keys()
        assert body["limit"] == 5 and body["total"] == len(body[key]) <= 5


@pytest.mark.parametrize(
    ("query", "named"),
    [("limit=0", "'limit'"), ("limit=5000", "'limit'"), ("offset=-1", "'offset'"),
     ("limit=ten", "'limit'")],
)  # fmt: skip
async def test_a_bad_limit_or_offset_is_a_400_naming_it(
    tmp_path: Path, query: str, named: str
) -> None:
    """A limit outside 1..1000 or an offset that is not a whole number gets a 400 saying which and what is allowed."""
    async with served_dashboard(tmp_path, {}) as served, aiohttp.ClientSession() as http:
        status, _, body = await _get(http, f"{served.base}/api/v1/incidents?{query}")
    assert status == 400
    assert named in body["error"] and "whole number from" in body["error"]


async def test_the_dashboard_says_how_many_incidents_and_pages_through_them(
    crowded: tuple[Served, aiohttp.ClientSession],
) -> None:
    """The dashboard shows "1–200 of 251" with a link to the next 200, and the last page shows "201–251 of 251"."""
    served, http = crowded
    async with http.get(f"{served.base}/") as resp:
        page = await resp.text()
    assert "1–200 of 251" in page
    assert 'href="/?offset=200&amp;limit=200" rel="next"' in page
    assert page.count('data-incident="') == 200
    async with http.get(f"{served.base}/?offset=200") as resp:
        last = await resp.text()
    assert "201–251 of 251" in last and 'rel="prev"' in last and 'rel="next"' not in last
    assert last.count('data-incident="') == 51
