"""Muting with a fake clock: silences, maintenance windows, inhibit rules and window ends."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.pipeline.conftest import Harness, alert
from watchd.pipeline.actions import IncidentService


def service(harness: Harness) -> IncidentService:
    return IncidentService(
        harness.store.engine, clock=harness.clock, settings=lambda: harness.settings
    )


async def test_silenced_alert_is_stored_with_reason_and_notified_once_when_silence_ends(
    harness: Harness,
) -> None:
    """A silenced alert opens a visible, muted incident; at the silence's end it is notified once."""
    silence = await service(harness).add_silence(
        matchers=['item="db1"'], ends_at=harness.clock.now() + 3600, created_by="ops"
    )
    await harness.send(alert("db1"))
    (incident,) = await harness.incidents()
    (member,) = await harness.members(incident["id"])
    assert member["muted"] == f"silence:{silence['id']}"
    assert await harness.notifications() == []
    await harness.clock.advance(3601)
    await harness.pipeline.sweep()
    await harness.pipeline.sweep()
    assert await harness.notifications() == [(incident["id"], "opened")]


async def test_resolved_during_window_after_notification_gets_resolved_at_window_end(
    harness: Harness,
) -> None:
    """Notified, then silenced, then resolved: the resolved notification comes when the
    silence is expired, never swallowed."""
    await harness.send(alert("db1"))
    svc = service(harness)
    silence = await svc.add_silence(
        matchers=['alertname=~"check_.*"'], ends_at=harness.clock.now() + 3600, created_by="ops"
    )
    await harness.send(alert("db1", firing=False))
    (incident,) = await harness.incidents()
    assert incident["state"] == "resolved"
    assert [k for _, k in await harness.notifications()] == ["opened"]
    assert "resolved_notification_held" in await harness.timeline(incident["id"])
    assert await svc.expire_silence(silence["id"])
    assert [k for _, k in await harness.notifications()] == ["opened", "resolved"]


async def test_still_firing_at_window_end_is_notified_once(harness: Harness) -> None:
    """Notified, muted by a window while still firing, the window ends: one "unmuted" notice."""
    await harness.send(alert("db1"))
    svc = service(harness)
    silence = await svc.add_silence(
        matchers=['item="db1"'], ends_at=harness.clock.now() + 3600, created_by="ops"
    )
    await svc.expire_silence(silence["id"])
    await harness.pipeline.sweep()
    assert [k for _, k in await harness.notifications()] == ["opened", "unmuted"]


async def test_recurring_maintenance_window_by_item_covers_children(harness: Harness) -> None:
    """A nightly window on "switch" mutes web1 (its child) inside the window, not outside."""
    start = datetime.fromtimestamp(harness.clock.now(), UTC)
    harness.configure(
        maintenance=[
            {
                "name": "nightly",
                "items": ["switch"],
                "cron": f"{start.minute} {start.hour} * * *",
                "duration": "1h",
            }
        ]
    )
    await harness.clock.advance(60)
    await harness.send(alert("web1", "check_http"))
    (incident,) = await harness.incidents()
    assert (await harness.members(incident["id"]))[0]["muted"] == "maintenance:nightly"
    assert await harness.notifications() == []
    await harness.clock.advance(3600)
    await harness.pipeline.sweep()
    assert await harness.notifications() == [(incident["id"], "opened")]


async def test_inhibit_rule_mutes_warning_while_critical_fires_on_same_item(
    harness: Harness,
) -> None:
    """A firing critical alert on db1 inhibits db1's warnings, not db2's."""
    harness.configure(
        inhibit_rules=[
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["item"],
            }
        ]
    )
    critical = alert("db1", "disk_full")
    await harness.send(critical)
    await harness.send(alert("db1", "disk_slow", severity="warning"))
    await harness.send(alert("db2", "disk_slow", severity="warning"))
    _, inhibited, free = await harness.incidents()
    assert (await harness.members(inhibited["id"]))[0][
        "muted"
    ] == f"inhibited:{critical.fingerprint}"
    assert (await harness.members(free["id"]))[0]["muted"] is None
