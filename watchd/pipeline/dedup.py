"""The fingerprint/dedup stage: what a batch of alerts changes, given what the store holds.

Alerts are keyed by fingerprint (the last of a batch wins). A plain repeat of a stored alert only
moves its end; anything else rewrites its row. Only alerts whose status changed, firing alerts
in no incident yet, and firing alerts awaiting a fresh result (a symptom whose parent recovered)
go on to muting and correlation, and alerts whose flapping marker changed (flapping started or
stopped) to the incident layer: the rest stop at the store (the fast path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from watchd.model import Alert, AlertStatus, is_flapping
from watchd.store.alerts import StoredAlert


@dataclass(frozen=True, slots=True)
class Dedup:
    """A batch sorted by what each alert needs."""

    repeats: list[tuple[str, float | None]]  # (fingerprint, new end) of those that only move it
    rewrites: list[Alert]  # new alerts and alerts whose stored row changes
    changed: list[Alert]  # alerts for the mute and correlate stages
    flapped: list[Alert]  # alerts whose source started or stopped flapping


def dedup(latest: Mapping[str, Alert], stored: Mapping[str, StoredAlert]) -> Dedup:
    """Sort a batch (by fingerprint, the last sighting of each) against the stored alerts."""
    repeats: list[tuple[str, float | None]] = []
    rewrites: list[Alert] = []
    changed: list[Alert] = []
    flapped: list[Alert] = []
    for fp, alert in latest.items():
        known = stored.get(fp)
        if known is None:
            rewrites.append(alert)
            changed.append(alert)
            if alert.flapping:
                flapped.append(alert)
            continue
        if is_flapping(known.annotations, known.source) != alert.flapping:
            flapped.append(alert)
        if known.repeated_by(alert):
            repeats.append((fp, alert.ends_at))
        else:
            rewrites.append(alert)
        if known.status != alert.status or (
            alert.status is AlertStatus.FIRING and (not known.attached or known.rechecking)
        ):
            changed.append(alert)
    return Dedup(repeats, rewrites, changed, flapped)
