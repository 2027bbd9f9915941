"""Incidents (DESIGN.md §4): lifecycle, timeline, muting, correlation, escalation and SLA
timers, problems and changes. Every change is written with its timeline event and its
notification intents (the outbox) in one transaction."""
