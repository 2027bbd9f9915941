"""When to try again: exponential backoff with jitter, and the receiver's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC
from email.utils import parsedate_to_datetime

# A Retry-After beyond this is taken as this: a receiver cannot park notifications for a day.
MAX_RETRY_AFTER = 3600.0


def backoff(attempt: int, initial: float, maximum: float, rand: random.Random) -> float:
    """Seconds before attempt `attempt + 1`: initial × 2^(attempt-1), capped, with "equal
    jitter" (half fixed, half random) so retries of many rows spread out but still grow."""
    base = ceiling(attempt, initial, maximum)
    return base / 2 + rand.uniform(0.0, base / 2)


def ceiling(attempt: int, initial: float, maximum: float) -> float:
    """The longest `backoff` after attempt `attempt` can be (its jitter included)."""
    return min(maximum, initial * 2.0 ** max(0, min(attempt, 64) - 1))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)
