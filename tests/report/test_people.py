"""The monthly report's people section: MTTA/MTTR per person and team, pages and night pages in
each person's own time zone, from incidents and pages on a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import config_of, ts
from watchd.clock import FakeClock
from watchd.incidents.ledger import Ledger
from watchd.incidents.model import Page
from watchd.loading import incident_settings, report_catalog
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.report.build import build_report
from watchd.report.period import Period
from watchd.report.render import render
from watchd.store import Store
from watchd.store.engine import transact

RAW: dict[str, Any] = {
    "items": [
        {"name": n, "checks": [{"name": "tcp", "kind": "tcp", "port": 1}]}
        for n in ("web1", "db1", "web2")
    ],
    "users": [
        {"name": "alice", "display_name": "Alice Li", "timezone": "Asia/Shanghai"},
        {"name": "bob", "display_name": "Bob Stone", "timezone": "UTC"},
        {"name": "carol", "timezone": "Europe/Berlin"},
    ],
    "teams": [{"name": "ops", "members": ["alice", "bob"]}, {"name": "db", "members": ["carol"]}],
}


def _page(user: str, contact: str = "mail") -> Page:
    return Page(user, user, contact, "log", f"{user}@example.com")


@pytest.fixture
async def report(tmp_path: Path) -> dict[str, Any]:
    """Three incidents of October 2026 acknowledged and resolved by people in the ways the API,
    dashboard and ack links record them, and six pages (two of them at the person's night)."""
    config = config_of(RAW)
    clock = FakeClock(ts("2026-10-05T10:00:00"))
    store = await Store.open(f"sqlite:///{tmp_path}/p.db", clock=clock)
    settings = incident_settings(config)
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings)
    service = IncidentService(store.engine, clock=clock, settings=lambda: settings)

    async def open_(item: str, at: str) -> int:
        await clock.advance(ts(at) - clock.now())
        labels = {"alertname": "Down", "item": item, "severity": "critical"}
        await pipeline.submit((Alert(labels, AlertStatus.FIRING, clock.now()),))
        found = await service.list_incidents()
        return int(next(i["id"] for i in found if i["item"] == item))

    async def page(incident_id: int, at: str, *pages: Page) -> None:
        await clock.advance(ts(at) - clock.now())

        async def write(conn: Any) -> None:
            ledger = Ledger(conn, clock.now(), settings)
            incident = await ledger.load(incident_id)
            await ledger.notify(incident, "escalated", {"step": 1}, receivers=[], pages=pages)

        await transact(store.engine, "page", write)

    try:
        first = await open_("web1", "2026-10-05T10:00:00")
        # alice through two contacts in one step: one page; 18:05 in Shanghai, 10:05 for bob
        await page(
            first, "2026-10-05T10:05:00", _page("alice"), _page("alice", "sms"), _page("bob")
        )
        await clock.advance(300)
        await service.acknowledge(first, "Alice Li (alice)")  # signed in: 600 s
        await clock.advance(3000)
        await service.resolve(first, "Bob Stone (bob) via token laptop")  # 3600 s
        second = await open_("db1", "2026-10-06T02:00:00")
        # 10:00 in Shanghai; 04:00 in Berlin (summer time): carol's night
        await page(second, "2026-10-06T02:00:00", _page("alice"), _page("carol"))
        await clock.advance(300)
        await service.acknowledge(second, "Alice Li (alice) via ack link to sms")  # 300 s
        await clock.advance(1500)
        await service.resolve(second, "alice via token ops")  # a shared token, by=alice: 1800 s
        third = await open_("web2", "2026-10-07T12:00:00")
        await clock.advance(120)
        await service.acknowledge(third, "carol")  # 120 s
        # 22:30 in Shanghai: alice's night; 14:30 for bob
        await page(third, "2026-10-07T14:30:00", _page("alice"), _page("bob"))
        await service.resolve(third, "somebody via token ops")  # no configured person
        await clock.advance(ts("2026-10-20T00:00:00") - clock.now())
        return await build_report(
            store.engine, report_catalog(config), Period.month("2026-10"), now=clock.now()
        )
    finally:
        await store.close()


def _figures(
    ack: int, mtta: float | None, res: int, mttr: float | None, pages: int, night: int
) -> dict[str, Any]:
    return {
        "acknowledged": ack,
        "mtta_seconds": mtta,
        "resolved": res,
        "mttr_seconds": mttr,
        "pages": pages,
        "night_pages": night,
    }


async def test_mtta_mttr_and_pages_per_person_and_team(report: dict[str, Any]) -> None:
    """Each person's and team's acknowledgements, resolutions, MTTA, MTTR, pages and night pages (local to the person) are exact, whichever way the action was recorded."""
    section = report["people"]
    assert section["night_hours"] == "22:00-07:00"
    assert section["people"] == [
        {
            "user": "alice",
            "name": "Alice Li (alice)",
            "timezone": "Asia/Shanghai",
            **_figures(2, 450.0, 1, 1800.0, 3, 1),
        },
        {
            "user": "bob",
            "name": "Bob Stone (bob)",
            "timezone": "UTC",
            **_figures(0, None, 1, 3600.0, 2, 0),
        },
        {
            "user": "carol",
            "name": "carol",
            "timezone": "Europe/Berlin",
            **_figures(1, 120.0, 0, None, 1, 1),
        },
    ]
    assert section["teams"] == [
        {"team": "db", "members": ["carol"], **_figures(1, 120.0, 0, None, 1, 1)},
        {"team": "ops", "members": ["alice", "bob"], **_figures(2, 450.0, 2, 2700.0, 5, 1)},
    ]


async def test_the_people_section_is_in_the_text_and_html_reports(report: dict[str, Any]) -> None:
    """The text and HTML reports show one people section with the same figures."""
    text = render(report, "text")
    assert (
        "  Alice Li (alice): acknowledged 2, MTTA 7m30s, resolved 1, MTTR 30m, pages 3, at night 1"
        in text
    )
    assert (
        "  team ops: acknowledged 2, MTTA 7m30s, resolved 2, MTTR 45m, pages 5, at night 1" in text
    )
    html = render(report, "html")
    assert '<table id="people">' in html
    assert (
        "<td>Alice Li (alice)</td><td>2</td><td>7m30s</td><td>1</td><td>30m</td><td>3</td><td>1</td>"
        in html
    )
