"""Log transitions, not repetitions: one line when a source starts failing, one when it recovers.

A loop that retries something (a store write, a job, a receiver) calls `failed` after every
failed attempt and `recovered` after every good one; only the first failure of a streak and the
first success after it are logged (Home Assistant's DataUpdateCoordinator does the same). Where
several sources share one loop (housekeeping jobs, receivers), each key has its own streak.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from structlog.typing import FilteringBoundLogger


class FailureLog:
    """The failing streaks of one kind of source, logged at their start and their end.

    `failing` and `recovered` are the two event names, logged by `log` (the caller's logger,
    so the lines keep its name): the first at `level` (a stdlib level number), the second at
    info. With `outage_field` the recovery line also says how long the streak lasted, in
    seconds by `clock`, rounded to `ndigits`.
    """

    def __init__(
        self,
        log: FilteringBoundLogger,
        *,
        failing: str,
        recovered: str,
        level: int = logging.ERROR,
        outage_field: str | None = None,
        ndigits: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._failing_event = failing
        self._recovered_event = recovered
        self._level = level
        self._outage_field = outage_field
        self._ndigits = ndigits
        self._clock = clock
        self._since: dict[Hashable, float] = {}  # start of each key's current streak

    def failed(self, key: Hashable = None, /, **fields: Any) -> None:
        """Note a failure of `key`; if it starts a streak, log the failing event with `fields`."""
        if key in self._since:
            return
        self._since[key] = self._clock()
        self._log.log(self._level, self._failing_event, **fields)

    def recovered(self, key: Hashable = None, /, **fields: Any) -> None:
        """Note a success of `key`; if it ends a streak, log the recovered event with `fields`."""
        since = self._since.pop(key, None)
        if since is None:
            return
        if self._outage_field is not None:
            fields[self._outage_field] = round(self._clock() - since, self._ndigits)
        self._log.info(self._recovered_event, **fields)
