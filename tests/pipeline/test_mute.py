"""Muting with a fake clock: silences, maintenance windows, inhibit rules and window ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from tests.pipeline.conftest import Harness, alert, settings_from
from watchd.model import fingerprint
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.mute import MuteView


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


def inhibit_view(rules: list[dict[str, Any]], firing: list[dict[str, str]] | None) -> MuteView:
    return MuteView(settings_from({"inhibit_rules": rules}), 10.0, (), (), firing)


CRITICAL_INHIBITS_WARNING = {
    "source_matchers": ['severity=~"critical|warning"'],
    "target_matchers": ['severity="warning"'],
    "equal": ["item"],
}


def test_an_inhibited_alert_names_the_first_firing_source_of_its_equal_labels() -> None:
    """Among many firing sources the one named is the first read with the same `equal` labels,
    never the alert itself; an alert with no such source is not inhibited."""
    db2 = {"alertname": "down", "item": "db2", "severity": "critical"}
    db1_a = {"alertname": "down", "item": "db1", "severity": "critical"}
    db1_b = {"alertname": "slow", "item": "db1", "severity": "critical"}
    warning = {"alertname": "disk", "item": "db1", "severity": "warning"}
    view = inhibit_view([CRITICAL_INHIBITS_WARNING], [db2, warning, db1_a, db1_b])
    assert view.reason(warning) == f"inhibited:{fingerprint(db1_a)}"
    assert view.reason({**warning, "item": "db3"}) is None
    alone = inhibit_view([CRITICAL_INHIBITS_WARNING], [db2, warning])
    assert alone.reason(warning) is None  # its own source match does not inhibit it
    assert not alone.mutes_nothing


def test_inhibit_rules_are_asked_in_their_order() -> None:
    """The first rule with a source wins, as before the sources were indexed."""
    node_down = {"alertname": "NodeDown", "item": "n1", "severity": "critical"}
    exporter = {"alertname": "ExporterDown", "item": "n1", "severity": "warning"}
    by_name = {
        "source_matchers": ['alertname="NodeDown"'],
        "target_matchers": ['alertname="ExporterDown"'],
        "equal": ["item"],
    }
    other = {**node_down, "alertname": "Other"}
    view = inhibit_view([CRITICAL_INHIBITS_WARNING, by_name], [other, node_down, exporter])
    assert view.reason(exporter) == f"inhibited:{fingerprint(other)}"


def test_a_view_loaded_for_alerts_no_rule_targets_refuses_to_guess_for_others() -> None:
    """Loaded without the firing alerts, a view answers the alerts it was loaded for and
    raises for a target of an inhibit rule rather than say it is not inhibited."""
    view = inhibit_view([CRITICAL_INHIBITS_WARNING], None)
    assert view.reason({"alertname": "down", "item": "db1", "severity": "critical"}) is None
    with pytest.raises(LookupError):
        view.reason({"alertname": "disk", "item": "db1", "severity": "warning"})


async def test_a_storm_no_inhibit_rule_targets_reads_no_firing_alerts(harness: Harness) -> None:
    """Alertmanager's usual rule (critical inhibits warning) and a storm of critical alerts:
    the batches never read every firing alert (that read, and the scan of them per alert,
    took 45 s of CPU for a 50,000-alert storm); a warning among them still reads and is
    inhibited."""
    harness.configure(
        inhibit_rules=[{**CRITICAL_INHIBITS_WARNING, "source_matchers": ['severity="critical"']}]
    )
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sync_engine = harness.store.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        await harness.send(*(alert(f"db{i}", "disk_full") for i in range(50)))
        await harness.send(*(alert(f"db{i}", "disk_full") for i in range(50, 100)))
        reads = [s for s in statements if "FROM alerts \nWHERE alerts.status" in s]
        assert reads == []
        await harness.send(alert("db7", "disk_slow", severity="warning"))
        reads = [s for s in statements if "FROM alerts \nWHERE alerts.status" in s]
        assert len(reads) == 1
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    inhibited = (await harness.incidents())[-1]
    (member,) = await harness.members(inhibited["id"])
    assert member["muted"] == f"inhibited:{alert('db7', 'disk_full').fingerprint}"
