"""What a status page shows of a service: its state now by its rule, and its daily availability
as reports count it (watchd.report.status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchd.clock import FakeClock
from watchd.loading import report_catalog
from watchd.report.availability import DOWN, UNKNOWN, UP
from watchd.report.combine import MAINTENANCE, UNMONITORED
from watchd.report.config import ServiceConfig
from watchd.report.rollup import Rollup
from watchd.report.status import daily_history, service_state
from watchd.store import Store

from .conftest import config_of
from .test_combine import DAY0, RAW, samples

ALL = ServiceConfig(name="s", checks=["a/*"], availability="all")
ANY = ServiceConfig(name="s", checks=["a/*"], availability="any")
WEIGHTED = ServiceConfig(name="s", checks=["a/*"], availability="weighted")


@pytest.mark.parametrize(
    ("service", "members", "incident", "shown"),
    [
        (ALL, [(UP, False), (UP, False)], False, "operational"),
        (ALL, [(UP, False), (UP, True)], False, "degraded"),  # a WARNING member
        (ALL, [(UP, False), (UP, False)], True, "degraded"),  # an incident is ongoing
        (ALL, [(UP, False), (DOWN, False)], False, "down"),
        (ANY, [(UP, False), (DOWN, False)], False, "degraded"),  # redundancy holds
        (ANY, [(DOWN, False), (DOWN, False)], False, "down"),
        (WEIGHTED, [(UP, False), (DOWN, False)], False, "degraded"),
        (ALL, [(UP, False), (MAINTENANCE, False)], False, "maintenance"),
        (ALL, [(UP, False), (UNKNOWN, False)], False, "unknown"),
        (ALL, [(UNMONITORED, False)], False, "unknown"),
        (ALL, [], False, "unknown"),
    ],
)
def test_a_services_state_follows_its_rule(
    service: ServiceConfig, members: list[tuple[str, bool]], incident: bool, shown: str
) -> None:
    """Down by the service's rule is down, maintenance is maintenance, no data is unknown, and up with a troubled member or an ongoing incident is degraded."""
    assert service_state(service, members, incident=incident) == shown


async def test_days_follow_each_rule_from_rollups_and_raw_samples(tmp_path: Path) -> None:
    """Member a down 06:00-12:00 and b 09:00-15:00 each day: a day reads 62.5 % under "all" (down 06-15), 87.5 % under "any" (down 09-12) and 75 % under "weighted", from a rolled-up day and a raw one; days before the data have none."""
    store = await Store.open(f"sqlite:///{tmp_path}/s.db", clock=FakeClock(DAY0))
    h = 3600
    for day in (DAY0, DAY0 + 86400):
        a = samples("a", day, day + 86400, [(day + 6 * h, day + 12 * h)])
        b = samples("b", day, day + 86400, [(day + 9 * h, day + 15 * h)])
        for sample in (*a, *b):
            store.record_sample(sample)
    await store.flush()
    catalog = report_catalog(config_of(RAW))
    clock = FakeClock(DAY0 + 86400 + 600)
    assert await Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=100).run()
    async with store.engine.connect() as conn:
        found = await daily_history(conn, catalog, catalog.services, days=4, now=DAY0 + 40 * h)
    await store.close()
    by_rule = {name: [d.availability_percent for d in h.days] for name, h in found.items()}
    # Today runs up to 16:00: 9 of its 16 hours down under "all", 3 under "any", 12 of 32
    # member-hours weighted.
    assert by_rule == {
        "all": [None, None, 62.5, 43.75],
        "any": [None, None, 87.5, 81.25],
        "weighted": [None, None, 75.0, 62.5],
        "default": [None, None, 62.5, 43.75],
    }
    assert [d.date for d in found["all"].days] == [
        "2026-10-03",
        "2026-10-04",
        "2026-10-05",
        "2026-10-06",
    ]
    assert found["weighted"].availability_percent == 70.0  # 24 of 80 member-hours down
