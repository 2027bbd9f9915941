"""The incident lists' filters and sorts (watchd.pipeline.incident_query) on SQLite and
PostgreSQL: what the dashboard's filter form and search find."""

from __future__ import annotations

from tests.pipeline.conftest import Harness, alert
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.incident_query import IncidentFilter
from watchd.store.pages import Page


async def _ids(harness: Harness, where: IncidentFilter) -> list[str]:
    service = IncidentService(
        harness.store.engine, clock=harness.clock, settings=lambda: harness.settings
    )
    listed = await service.incidents_page(where=where, page=Page(50))
    return [i["item"] for i in listed.items]


async def test_search_finds_labels_title_and_item_and_sorts_by_urgency(harness: Harness) -> None:
    """A search finds an incident by any alert label's text, case-insensitively and with % and _ taken literally; severity sorts critical first; items and periods narrow the list, on both stores."""
    await harness.send(alert("db1", severity="warning", team="DBA_Team"))
    harness.clock.step(10)
    await harness.send(alert("web1", severity="critical"))
    harness.clock.step(10)
    await harness.send(alert("mail1", severity="info", note="100% full"))
    assert await _ids(harness, IncidentFilter(text="dba_team")) == ["db1"]
    assert await _ids(harness, IncidentFilter(text="db_")) == []  # not "db" and any one
    assert await _ids(harness, IncidentFilter(text="%1")) == []  # not anything ending in 1
    assert await _ids(harness, IncidentFilter(text="100%")) == ["mail1"]
    assert await _ids(harness, IncidentFilter(text="WEB")) == ["web1"]  # the item
    assert await _ids(harness, IncidentFilter(order="severity")) == ["web1", "db1", "mail1"]
    assert await _ids(harness, IncidentFilter(order="oldest")) == ["db1", "web1", "mail1"]
    assert await _ids(harness, IncidentFilter(items=("db1", "mail1"))) == ["mail1", "db1"]
    assert await _ids(harness, IncidentFilter(items=())) == []
    now = harness.clock.now()
    assert await _ids(harness, IncidentFilter(opened_from=now - 15, opened_before=now)) == ["web1"]
