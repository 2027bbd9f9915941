"""A device's table rows, learned by walking, so that most polls GET the known cells instead.

Walking costs a GETBULK per column (15 round trips for the if-mib profile on a host with a few
interfaces, each answered with max_repetitions varbinds, most of them past the column); the
cells of the rows already known fit in one or two GETs. The rows are learned by a walk on the
first poll, every `rewalk_interval` seconds after (0: every poll), after the device restarted
(its uptime went back: indexes such as ifIndex may have been renumbered), and at once when a
known cell is gone: the walk of that same poll gives the true table, so a row that goes away
is never reported stale. A row that appears is seen by the next walk, within `rewalk_interval`.
An agent that answers the GETs with nothing (a tooBig answer, or SNMPv1's noSuchName for a
whole request) gets smaller GETs, down to walking every poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gufo.snmp.typing import ValueType

_MIN_PER_GET = 8  # below this, GETs save little over walking: walk every poll


class Reader(Protocol):
    """What a session offers (collectors/snmp_session.py and snmp_pysnmp.py)."""

    async def get(self, oids: Sequence[str], *, each: bool = True) -> dict[str, ValueType]: ...

    async def walk(
        self, columns: Sequence[str], *, max_repetitions: int, max_rows: int = 100_000
    ) -> dict[str, dict[str, ValueType]]: ...


class RowCache:
    """The rows of one device's walked columns and when they were last walked."""

    def __init__(
        self, columns: Sequence[str], *, rewalk_interval: float, max_repetitions: int
    ) -> None:
        self._columns = list(columns)
        self._interval = rewalk_interval
        self._max_repetitions = max_repetitions
        self._per_get = 2 * max_repetitions  # varbinds per GET
        self._misses = 0  # polls in a row whose GETs came back empty
        # The row indexes of each column at the last walk; columns with the same rows share
        # one tuple. The OIDs are built per poll: kept, they would hold 8 KB a device.
        self._rows: dict[str, tuple[str, ...]] = {}
        self._walked_at = 0.0
        self._present: list[str] = []  # the scalars the agent had at the last walk
        self._uptime: ValueType = None

    async def read(
        self, session: Reader, scalars: Sequence[str], uptime_oid: str, now: float
    ) -> tuple[dict[str, ValueType], dict[str, dict[str, ValueType]]]:
        """This poll's scalars and columns ({column: {row index: value}}), walked or not."""
        if not self._columns:
            return await session.get(scalars), {}
        if self._rows and now - self._walked_at < self._interval:
            known = await self._get_known(session, uptime_oid)
            if known is not None:
                return known
        values = await session.get(scalars)
        columns = await session.walk(self._columns, max_repetitions=self._max_repetitions)
        shared: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._rows = {}
        for column, rows in columns.items():
            if rows:
                indexes = tuple(rows)
                self._rows[column] = shared.setdefault(indexes, indexes)
        self._walked_at = now
        self._present = [oid for oid in scalars if oid in values]
        self._uptime = values.get(uptime_oid)
        return values, columns

    async def _get_known(
        self, session: Reader, uptime_oid: str
    ) -> tuple[dict[str, ValueType], dict[str, dict[str, ValueType]]] | None:
        """The known cells and scalars by GET; None if the table must be walked."""
        rows = self._rows
        oids = self._present + [
            f"{column}.{index}" for column, known in rows.items() for index in known
        ]
        values: dict[str, ValueType] = {}
        for start in range(0, len(oids), self._per_get):
            got = await session.get(oids[start : start + self._per_get], each=False)
            if not got:
                self._misses += 1
                if self._misses >= 3:  # not one vanished row: the agent refuses GETs this big
                    self._per_get //= 2
                    self._misses = 0
                    if self._per_get < _MIN_PER_GET:
                        self._interval = 0.0
                return None
            values.update(got)
        self._misses = 0
        uptime = values.get(uptime_oid)
        restarted = (
            isinstance(uptime, int) and isinstance(self._uptime, int) and uptime < self._uptime
        )
        if restarted:
            return None
        self._uptime = uptime
        columns: dict[str, dict[str, ValueType]] = {}  # a column without rows: absent
        start = len(self._present)
        for column, known in rows.items():
            end = start + len(known)
            # The column's cells in the order their OIDs were built: each column's rows at once.
            try:
                cells = dict(zip(known, map(values.pop, oids[start:end]), strict=True))
            except KeyError:
                return None  # a row went away
            if None in cells.values():
                return None
            columns[column] = cells
            start = end
        return values, columns
