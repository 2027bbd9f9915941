"""A lease on singleton work (timers, escalations, rollups, retention): one node runs it.

The lease is taken and renewed by the heartbeat (queries.acquire: one UPDATE that succeeds
only when the lease is free, expired or already ours) until the database's now + `ttl`.
Its holder trusts it only until its OWN monotonic deadline: the start of the last successful
renewal + `ttl` - `margin`. That moment comes before the lease can expire in the database
(which counts from a later instant), so a holder cut off from PostgreSQL stops its singleton
work before any other node can take the lease over.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchd.clock import Clock
from watchd.logging import get_logger

log = get_logger("watchd.cluster")

SINGLETON = "singleton"


@dataclass(frozen=True, slots=True)
class Grant:
    """What one renewal attempt answered: whether this node holds the lease now, and who held
    it before the attempt ("" when it was free)."""

    held: bool
    previous: str


class Lease:
    """This node's view of one lease: `held()` says whether its singleton work may run now."""

    def __init__(self, name: str, *, me: str, ttl: float, margin: float, clock: Clock) -> None:
        self.name = name
        self._me = me
        self._ttl = ttl
        self._margin = margin
        self._clock = clock
        self._holding = False
        self._deadline = 0.0  # monotonic

    def held(self) -> bool:
        """Whether this node holds the lease and its own deadline has not passed; the first
        call that finds the deadline passed logs `lease_lost`."""
        if not self._holding:
            return False
        if self._clock.monotonic() < self._deadline:
            return True
        self._lose(reason="not renewed in time")
        return False

    def settle(self, grant: Grant, started: float) -> None:
        """Apply a committed renewal attempt that began at monotonic `started`."""
        if not grant.held:
            if self._holding:
                self._lose(reason="taken by another node", holder=grant.previous)
            return
        self._deadline = started + self._ttl - self._margin
        if self._holding:
            return
        self._holding = True
        if grant.previous not in ("", self._me):
            log.warning("lease_taken_over", lease=self.name, node=self._me, previous=grant.previous)
        else:
            log.info("lease_acquired", lease=self.name, node=self._me)

    def released(self) -> None:
        """This node gave the lease up (it leaves the cluster): its work stops now."""
        if self._holding:
            self._holding = False
            log.info("lease_released", lease=self.name, node=self._me)

    def _lose(self, **fields: str) -> None:
        self._holding = False
        log.warning("lease_lost", lease=self.name, node=self._me, **fields)
