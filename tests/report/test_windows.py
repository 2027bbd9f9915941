"""Maintenance time for availability: which configured windows and changes apply to a check
(when a window runs is pinned in tests/test_maintenance.py)."""

from __future__ import annotations

from watchd.inventory import Inventory
from watchd.maintenance import MaintenanceWindow
from watchd.report.windows import MaintenancePlan

from .conftest import config_of, ts

INVENTORY = Inventory(
    config_of(
        {"items": [{"name": "router"}, {"name": "web1", "parents": ["router"]}, {"name": "db1"}]}
    ).items
)


def test_windows_cover_children_of_their_items_and_changes_cover_theirs() -> None:
    """A window on the router covers web1 below it; a change on db1 covers db1 only; matchers match check labels."""
    windows = (
        MaintenanceWindow(
            name="net", items=["router"], start="2026-10-05T01:00:00Z", end="2026-10-05T02:00:00Z"
        ),
        MaintenanceWindow(
            name="tls",
            matchers=['check="https"'],
            start="2026-10-06T00:00:00Z",
            end="2026-10-06T00:30:00Z",
        ),
    )
    plan = MaintenancePlan(
        windows,
        INVENTORY,
        changes=(("db1", ts("2026-10-07T10:00"), ts("2026-10-07T11:00")),),
        start=ts("2026-10-01"),
        end=ts("2026-11-01"),
    )
    assert plan.intervals("web1", {"item": "web1", "check": "http"}) == [
        (ts("2026-10-05T01:00"), ts("2026-10-05T02:00"))
    ]
    assert plan.intervals("db1", {"item": "db1", "check": "https"}) == [
        (ts("2026-10-06T00:00"), ts("2026-10-06T00:30")),
        (ts("2026-10-07T10:00"), ts("2026-10-07T11:00")),
    ]
    assert plan.intervals("router", {"item": "router", "check": "ping"}) == [
        (ts("2026-10-05T01:00"), ts("2026-10-05T02:00"))
    ]


def test_windows_sharing_a_name_each_cover_their_own_items() -> None:
    """Names need not be unique: a second "patch" window on db1 counts for db1 (the plan once
    cached coverage by name and gave it the first window's items)."""
    windows = (
        MaintenanceWindow(
            name="patch", items=["router"], start="2026-10-05T01:00:00Z", end="2026-10-05T02:00:00Z"
        ),
        MaintenanceWindow(
            name="patch", items=["db1"], start="2026-10-06T01:00:00Z", end="2026-10-06T02:00:00Z"
        ),
    )
    plan = MaintenancePlan(windows, INVENTORY, start=ts("2026-10-01"), end=ts("2026-11-01"))
    assert plan.intervals("web1", {"item": "web1", "check": "http"}) == [
        (ts("2026-10-05T01:00"), ts("2026-10-05T02:00"))
    ]
    assert plan.intervals("db1", {"item": "db1", "check": "tcp"}) == [
        (ts("2026-10-06T01:00"), ts("2026-10-06T02:00"))
    ]
