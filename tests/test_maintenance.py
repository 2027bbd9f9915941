"""Maintenance windows: when they run (one-off, cron, time zones) and what they cover, one answer
for the mute step and the availability report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchd.config import parse_config
from watchd.inventory import Inventory
from watchd.loading import incident_settings, report_catalog
from watchd.maintenance import Coverage, MaintenanceWindow
from watchd.pipeline.mute import MuteView
from watchd.report.windows import MaintenancePlan

ITEMS: list[dict[str, Any]] = [
    {"name": "router"},
    {"name": "switch", "parents": ["router"]},
    {"name": "web1", "parents": ["switch"]},
    {"name": "db1"},
]


def ts(text: str) -> float:
    """Epoch seconds of an ISO time, UTC unless it says otherwise."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def window(**raw: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", "items": ["db1"], **raw})


def test_a_weekly_cron_window_occurs_once_a_week_including_one_already_running() -> None:
    """Sundays 02:00 for 2 h: the Sunday running at the span's start counts, clipped by nothing."""
    backup = MaintenanceWindow(name="backup", items=["db1"], cron="0 2 * * sun", duration="2h")
    found = backup.intervals(ts("2026-10-04T03:00"), ts("2026-10-18T00:00"))
    assert found == [
        (ts("2026-10-04T02:00"), ts("2026-10-04T04:00")),
        (ts("2026-10-11T02:00"), ts("2026-10-11T04:00")),
    ]


def test_a_one_off_window_is_half_open_and_read_in_its_time_zone() -> None:
    """Naive start/end are wall times of the window's zone; the end instant is outside."""
    one_off = window(
        start="2026-10-05T01:00:00", end="2026-10-05T02:00:00", timezone="Europe/Paris"
    )
    start, end = ts("2026-10-04T23:00"), ts("2026-10-05T00:00")  # 01:00 and 02:00 CEST
    assert one_off.intervals(ts("2026-10-01"), ts("2026-11-01")) == [(start, end)]
    assert not one_off.active(start - 1)
    assert one_off.active(start)
    assert one_off.active(end - 0.001)
    assert not one_off.active(end)
    assert one_off.intervals(end, end + 3600) == []


def test_a_window_spanning_both_edges_of_the_query_is_returned_whole() -> None:
    """A one-off week and a 30-hour run both enclose [Oct 10, Oct 11): each comes back unclipped."""
    week = window(start="2026-10-07T00:00:00Z", end="2026-10-14T00:00:00Z")
    long_run = window(cron="0 0 10 * *", duration="30h")
    a, b = ts("2026-10-10T06:00"), ts("2026-10-10T12:00")
    assert week.intervals(a, b) == [(ts("2026-10-07"), ts("2026-10-14"))]
    assert long_run.intervals(a, b) == [(ts("2026-10-10"), ts("2026-10-11T06:00"))]
    assert long_run.active(a) and long_run.active(b)


def test_a_nightly_window_runs_across_the_day_boundary() -> None:
    """23:30 Paris time for 1 h: active at 00:15 the next day, and found by a query starting then."""
    nightly = window(cron="30 23 * * *", duration="1h", timezone="Europe/Paris")
    run = (ts("2026-10-06T23:30+02:00"), ts("2026-10-07T00:30+02:00"))
    after_midnight = ts("2026-10-07T00:15+02:00")
    assert nightly.active(after_midnight)
    assert not nightly.active(run[1])
    assert nightly.intervals(after_midnight, ts("2026-10-07T12:00+02:00")) == [run]


def test_a_cron_time_repeated_when_clocks_go_back_runs_twice_for_mute_and_report() -> None:
    """02:30 Paris time happens twice on 2026-10-25 (CEST, then CET): both runs count, and the
    window is active all through them (the mute step used to miss 01:00-02:00 UTC here)."""
    nightly = window(cron="30 2 * * *", duration="1h", timezone="Europe/Paris")
    runs = [
        (ts("2026-10-25T00:30"), ts("2026-10-25T01:30")),
        (ts("2026-10-25T01:30"), ts("2026-10-25T02:30")),
    ]
    assert nightly.intervals(ts("2026-10-25T00:00"), ts("2026-10-25T03:00")) == runs
    assert all(nightly.active(ts(f"2026-10-25T{t}")) for t in ("00:30", "01:15", "01:45", "02:29"))
    assert not nightly.active(ts("2026-10-25T02:30"))


def test_runs_do_not_depend_on_where_the_query_starts_around_a_dst_gap() -> None:
    """Every 20 min for 30 min across 2026-03-29 (Paris skips 02:00-03:00): a query starting
    at 01:30 UTC finds the runs a whole-night query finds (once it stepped back into the gap)."""
    frequent = window(cron="*/20 * * * *", duration="30m", timezone="Europe/Paris")
    night = frequent.intervals(ts("2026-03-28T22:00"), ts("2026-03-29T04:00"))
    a, b = ts("2026-03-29T01:30"), ts("2026-03-29T02:00")
    assert frequent.intervals(a, b) == [(x, y) for x, y in night if x < b and y > a]
    assert frequent.intervals(a, b) == [
        (ts("2026-03-29T01:20"), ts("2026-03-29T01:50")),
        (ts("2026-03-29T01:40"), ts("2026-03-29T02:10")),
    ]


def test_coverage_is_the_items_with_their_descendants_and_what_the_matchers_match() -> None:
    """A window on "switch" covers web1 below it, not router above it nor db1 beside it."""
    inventory = Inventory(parse_config({"items": ITEMS}, Path("t.toml")).items)
    by_item = Coverage.of(window(items=["switch"], cron="0 2 * * *", duration="1h"), inventory)
    assert by_item.items == {"switch", "web1"}
    assert by_item.covers("web1", {"item": "web1"})
    assert not by_item.covers("router", {"item": "router"})
    assert not by_item.covers("db1", {"item": "db1"})
    by_label = Coverage.of(
        window(items=[], matchers=['check="https"'], cron="0 2 * * *", duration="1h"), inventory
    )
    assert by_label.covers("db1", {"item": "db1", "check": "https"})
    assert not by_label.covers("db1", {"item": "db1", "check": "tcp"})


def test_the_mute_step_and_the_report_agree_on_when_a_check_is_in_maintenance() -> None:
    """Minute by minute over a fall-back night, a day boundary and a one-off window: an alert is
    muted by a window exactly when the report counts that instant as maintenance."""
    raw = {
        "items": ITEMS,
        "maintenance": [
            {
                "name": "paris",
                "items": ["switch"],
                "cron": "30 2 * * *",
                "duration": "1h",
                "timezone": "Europe/Paris",
            },
            {
                "name": "midnight",
                "matchers": ['check="https"'],
                "cron": "50 23 * * *",
                "duration": "20m",
            },
            {
                "name": "once",
                "items": ["db1"],
                "start": "2026-10-25T01:10:00",
                "end": "2026-10-25T01:40:00",
                "timezone": "America/New_York",
            },
        ],
    }
    config = parse_config(raw, Path("t.toml"))
    settings, catalog = incident_settings(config), report_catalog(config)
    start, end = ts("2026-10-24T22:00"), ts("2026-10-25T06:00")
    plan = MaintenancePlan(catalog.windows, catalog.inventory, start=start, end=end)
    checks = [{"item": "web1", "check": "http"}, {"item": "db1", "check": "https"}]
    muted_minutes = 0
    for minute in range(int((end - start) // 60)):
        now = start + 60 * minute + 7.5
        view = MuteView(settings, now, silences=(), changes=(), firing=())
        for labels in checks:
            muted = view.reason(labels) is not None
            counted = any(a <= now < b for a, b in plan.intervals(labels["item"], labels))
            assert muted == counted, (labels, datetime.fromtimestamp(now, UTC))
            muted_minutes += muted
    assert muted_minutes == 120 + 20 + 30  # the two Paris runs, one midnight run, the one-off


def test_windows_without_a_zone_run_in_the_daemon_time_zone_and_explicit_zones_stay() -> None:
    """With [daemon] timezone = "Asia/Shanghai", a nightly "0 2 * * *" window without a zone
    runs at 02:00 Shanghai time (18:00 UTC) and mutes then; a window naming its own zone keeps it."""
    raw = {
        "daemon": {"timezone": "Asia/Shanghai"},
        "items": ITEMS,
        "maintenance": [
            {"name": "local", "items": ["db1"], "cron": "0 2 * * *", "duration": "1h"},
            {
                "name": "paris",
                "items": ["web1"],
                "cron": "0 2 * * *",
                "duration": "1h",
                "timezone": "Europe/Paris",
            },
            {
                "name": "once",
                "items": ["db1"],
                "start": "2026-11-03T09:00:00",
                "end": "2026-11-03T10:00:00",
            },
        ],
    }
    config = parse_config(raw, Path("t.toml"))
    local, paris, once = config.maintenance
    assert local.timezone == "Asia/Shanghai" and paris.timezone == "Europe/Paris"
    day = ts("2026-11-02T00:00")
    assert local.intervals(day, day + 86400) == [(ts("2026-11-02T18:00"), ts("2026-11-02T19:00"))]
    assert paris.intervals(day, day + 86400) == [(ts("2026-11-02T01:00"), ts("2026-11-02T02:00"))]
    assert once.intervals(day, day + 3 * 86400) == [
        (ts("2026-11-03T01:00"), ts("2026-11-03T02:00"))
    ]
    view = MuteView(
        incident_settings(config), ts("2026-11-02T18:30"), silences=(), changes=(), firing=()
    )
    assert view.reason({"item": "db1", "check": "tcp"}) is not None
    assert view.reason({"item": "web1", "check": "http"}) is None
