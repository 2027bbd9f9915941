"""The store as one CLI command opens it, and the times such a command is given."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from watchd.clock import Clock
from watchd.store import Store


@contextlib.asynccontextmanager
async def opened_store(url: str, clock: Clock) -> AsyncIterator[Store]:
    """The store at `url` for one command, closed after it; StoreError when it cannot open."""
    store = await Store.open(url, clock=clock)
    try:
        yield store
    finally:
        await store.close()


def parse_local_time(text: str) -> float:
    """Seconds since the epoch of an ISO date or time typed on the command line; one without a
    zone is the local time of the machine the command runs on (as the operator reads a clock).
    ValueError names what was expected."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO date or time such as 2026-12-15 or 2026-12-15T09:30, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()
