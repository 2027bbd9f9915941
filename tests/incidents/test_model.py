"""Incidents read from their rows, and changed as their rows change (watchd.incidents.model)."""

from __future__ import annotations

from dataclasses import astuple, fields
from typing import Any

import pytest

from watchd.incidents.model import Incident, State


def stored_row(**columns: Any) -> dict[str, Any]:
    """An incidents row as SQLite gives it back: its booleans as 0 and 1."""
    return {
        "id": 7,
        "key": "item=db1",
        "group_labels": {"item": "db1"},
        "title": "check_tcp on db1",
        "item": "db1",
        "state": "open",
        "severity": "critical",
        "seq": 3,
        "opened_at": 1_800_000_000.0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "closed_at": None,
        "closed_by": None,
        "notified": None,
        "notified_at": None,
        "audible": 0,
        "escalation_policy": None,
        "escalation_step": 0,
        "escalation_from": None,
        "sla_ack_breached": 0,
        "sla_resolve_breached": 1,
        "muted_since": None,
        "muted_seconds": 0.0,
        "problem_id": None,
        "change_id": None,
        "updated_at": 1_800_000_000.0,
        **columns,
    }


# A value for each column other than the one stored_row has, as a row holds it.
CHANGES: dict[str, Any] = {
    "id": 8,
    "key": "item=web1",
    "group_labels": {"item": "web1"},
    "title": "check_http on web1",
    "item": "web1",
    "state": "resolved",
    "severity": "warning",
    "seq": 4,
    "opened_at": 1_800_000_001.0,
    "acknowledged_at": 1_800_000_002.0,
    "acknowledged_by": "alice",
    "resolved_at": 1_800_000_003.0,
    "resolved_by": "watchd",
    "closed_at": 1_800_000_004.0,
    "closed_by": "bob",
    "notified": "firing",
    "notified_at": 1_800_000_005.0,
    "audible": 1,
    "escalation_policy": "night",
    "escalation_step": 2,
    "escalation_from": 1_800_000_006.0,
    "sla_ack_breached": 1,
    "sla_resolve_breached": 0,
    "muted_since": 1_800_000_007.0,
    "muted_seconds": 12.5,
    "problem_id": 3,
    "change_id": 9,
    "updated_at": 1_800_000_008.0,
}


def typed(incident: Incident) -> list[tuple[type, Any]]:
    """The incident's fields with their types: 1 and True are equal, but not the same field."""
    return [(type(value), value) for value in astuple(incident)]


def test_every_column_of_an_incident_has_a_change_to_try() -> None:
    """The cases below cover every field of Incident."""
    assert set(CHANGES) == {f.name for f in fields(Incident)}


def test_an_incident_is_read_from_its_row_with_its_state_its_booleans_and_labels_of_its_own() -> (
    None
):
    """from_mapping turns the stored state into a State, 0 and 1 into booleans, and copies the
    group labels."""
    row = stored_row()
    incident = Incident.from_mapping(row)
    assert incident.state is State.OPEN
    assert (incident.audible, incident.sla_ack_breached, incident.sla_resolve_breached) == (
        False,
        False,
        True,
    )
    assert type(incident.audible) is bool
    assert incident.group_labels == {"item": "db1"}
    assert incident.group_labels is not row["group_labels"]
    assert (incident.id, incident.seq, incident.title) == (7, 3, "check_tcp on db1")


@pytest.mark.parametrize("column", sorted(CHANGES))
def test_a_changed_incident_is_the_incident_of_its_changed_row(column: str) -> None:
    """changed(values) gives what from_mapping gives for the row with those values."""
    row = stored_row()
    incident = Incident.from_mapping(row)
    changed = incident.changed({column: CHANGES[column]})
    assert typed(changed) == typed(Incident.from_mapping({**row, column: CHANGES[column]}))
    assert typed(incident) == typed(Incident.from_mapping(row))  # the incident itself stays


def test_an_incident_changed_in_several_columns_at_once_is_that_of_its_changed_row() -> None:
    """Several columns change together, as an opening notification changes them."""
    row = stored_row()
    values = {"seq": 4, "audible": True, "notified": "firing", "notified_at": 1.0, "state": "open"}
    changed = Incident.from_mapping(row).changed(values)
    assert typed(changed) == typed(Incident.from_mapping({**row, **values}))
