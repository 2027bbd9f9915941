"""The dashboard's incident lists: filter, sort and search kept in the address, the history of
ended incidents by period, and the fragment the page polls to stay current."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp
import pytest

from .dashboard_world import Served, served_dashboard

pytestmark = pytest.mark.integration


async def _alert(http: aiohttp.ClientSession, dash: Served, **labels: str) -> None:
    """Fire one alert through the real Alertmanager-compatible ingestion route."""
    body = [{"labels": labels, "annotations": {"summary": f"{labels['alertname']} fired"}}]
    async with http.post(f"{dash.base}/api/v2/alerts", json=body) as resp:
        assert resp.status == 200, await resp.text()


def _rows(page: str) -> list[str]:
    return [part.split('"', 1)[0] for part in page.split('data-incident="')[1:]]


async def test_filters_sorting_and_search_narrow_the_open_list_from_the_address(
    tmp_path: Path,
) -> None:
    """?severity=, ?service=, ?q= (labels too) and ?sort= pick and order the incidents shown, and the form shows the values back."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        await _alert(http, dash, alertname="DiskFull", item="db1", severity="warning", team="dba")
        await _alert(http, dash, alertname="Orphan", item="mail9", severity="info")
        async with http.get(f"{dash.base}/") as resp:
            everything = _rows(await resp.text())
        assert len(everything) == 3
        web1 = str(dash.incident_id)
        async with http.get(f"{dash.base}/", params={"severity": "warning"}) as resp:
            page = await resp.text()
            (disk,) = _rows(page)
            assert '<option value="warning" selected>' in page
        async with http.get(f"{dash.base}/", params={"service": "shop"}) as resp:
            assert sorted(_rows(await resp.text())) == sorted([web1, disk])  # web1 and db1
        async with http.get(f"{dash.base}/", params={"q": "dba"}) as resp:
            assert _rows(await resp.text()) == [disk]  # found by its label team=dba
        async with http.get(f"{dash.base}/", params={"q": "100%_"}) as resp:
            assert _rows(await resp.text()) == []  # wildcards are taken literally
        async with http.get(f"{dash.base}/", params={"sort": "severity"}) as resp:
            assert _rows(await resp.text())[0] == web1  # critical first
        async with http.get(f"{dash.base}/", params={"sort": "oldest"}) as resp:
            assert _rows(await resp.text())[0] == web1
        async with http.get(f"{dash.base}/", params={"severity": "loud", "sort": "x"}) as resp:
            page = await resp.text()
            assert resp.status == 200 and len(_rows(page)) == 3
            assert "Ignored severity: &#39;loud&#39; is not one of" in page
            assert "Ignored sort:" in page


async def test_the_history_lists_ended_incidents_by_the_period_they_opened_in(
    tmp_path: Path,
) -> None:
    """A resolved incident leaves the front page for /history, which shows it for a period containing its opening and not for one before it."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        await dash.incidents.resolve(dash.incident_id, "alice")
        async with http.get(f"{dash.base}/") as resp:
            assert _rows(await resp.text()) == []
        async with http.get(f"{dash.base}/history") as resp:
            assert _rows(await resp.text()) == [str(dash.incident_id)]
        opened = (await dash.incidents.get_incident(dash.incident_id))["opened_at"]
        day = dt.datetime.fromtimestamp(opened, dt.UTC)
        same, before = day.date().isoformat(), day.date().replace(year=day.year - 1).isoformat()
        async with http.get(f"{dash.base}/history", params={"from": same, "to": same}) as resp:
            assert _rows(await resp.text()) == [str(dash.incident_id)]
        async with http.get(f"{dash.base}/history", params={"from": before, "to": before}) as r:
            assert _rows(await r.text()) == []
        async with http.get(f"{dash.base}/history", params={"from": "30.11.2026"}) as resp:
            assert "Ignored from: &#39;30.11.2026&#39; is not a date" in await resp.text()


async def test_the_fragment_the_page_polls_carries_new_incidents_and_its_filters(
    tmp_path: Path,
) -> None:
    """The page names the fragment with its filters; the fragment lists an alert fired after the page loaded, and its pager links to the page, not to itself."""
    async with served_dashboard(tmp_path, {}) as dash, aiohttp.ClientSession() as http:
        async with http.get(f"{dash.base}/", params={"severity": "warning", "limit": "1"}) as r:
            page = await r.text()
        assert 'data-live="/fragments/incidents?view=open&amp;severity=warning&amp;limit=1"' in page
        await _alert(http, dash, alertname="A", item="db1", severity="warning")
        await _alert(http, dash, alertname="B", item="mail9", severity="warning")
        url = f"{dash.base}/fragments/incidents?view=open&severity=warning&limit=1"
        async with http.get(url) as resp:
            fragment = await resp.text()
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert len(_rows(fragment)) == 1 and "<html" not in fragment
        assert 'href="/?severity=warning&amp;limit=1&amp;offset=1"' in fragment
