"""The alert pipeline (DESIGN.md §1): every alert, from checks, rules or the outside, and every
change that re-decides them (time passing, operators acting), one transaction each.

    dedup.py        fingerprint → stored state → repeat (fast path) or change
    mute.py         silences.py, maintenance windows, inhibit rules, topology: one MuteView
    correlate.py    group key, parents, reopen window → incidents (via watchd.incidents)
    expire.py       external alerts not sent again in time resolve themselves
    sweep.py        re-decide mutes when windows, silences or parents change
    alert_pipeline.py   the stages wired in one transaction: AlertPipeline, the AlertSink
    timers.py       the clock's loop: expire, sweep, escalation and SLA timers
    actions.py      what operators do (ack, resolve, silence, change) as transactions
    buffer.py       watchd's own producers' retry buffer in front of the pipeline
    isolate.py      split a failing batch until only the alerts that fail alone do
"""

from watchd.pipeline.alert_pipeline import AlertPipeline

__all__ = ["AlertPipeline"]
