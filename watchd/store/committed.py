"""Tallies that count only once their write transaction committed.

A transaction may roll back (a store outage, a deadlock victim run again), so what it did is
counted at its commit, not as it goes: code in the transaction calls `tally(conn, kind)` and
the engine's `on_commit` listener (the composition root passes a metrics counter) gets the
transaction's tallies after `watchd.store.engine.write_transaction` committed it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The key of a transaction's tallies in its connection's `info` dict.
_TALLY = "watchd_tally"
Report = Callable[[Mapping[str, int]], None]
_LISTENERS: WeakKeyDictionary[Engine, Report] = WeakKeyDictionary()


def tally(conn: AsyncConnection, kind: str, n: int = 1) -> None:
    """Count `n` of `kind` in the transaction running on `conn`, reported if it commits."""
    info = conn.info
    counts: Counter[str] | None = info.get(_TALLY)
    if counts is None:  # not setdefault: that built a Counter (~1 us) at every call
        counts = info[_TALLY] = Counter()
    counts[kind] += n


def on_commit(engine: AsyncEngine, report: Report) -> None:
    """Give `report` the tallies of each write transaction of `engine` once it committed."""
    _LISTENERS[engine.sync_engine] = report


def take(conn: AsyncConnection) -> Mapping[str, int] | None:
    """Remove the transaction's tallies from `conn` (whose `info` outlives the transaction,
    with the pooled connection): write_transaction calls this at the transaction's end."""
    counts: Mapping[str, int] | None = conn.info.pop(_TALLY, None)
    return counts


def committed(engine: AsyncEngine, counts: Mapping[str, int] | None) -> None:
    """Report a committed transaction's tallies to the engine's listener, if it has one."""
    report = _LISTENERS.get(engine.sync_engine)
    if counts and report is not None:
        report(counts)
