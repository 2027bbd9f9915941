"""Submit a batch so that one alert the store refuses fails alone, not its whole batch.

Alerts that arrive together are committed in one transaction (group commit, MQTT batches, the
retry buffer). When that transaction fails for a reason that is not a store outage (the
database refused a value, the pipeline failed on one alert), the batch is halved and each half
committed again, down to the alerts that fail alone: every other alert is stored, and only the
culprits are reported. A store outage is raised at once, never split: every half would fail
the same way, and the caller retries (503, an unacknowledged message, the buffer's backoff).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watchd.model import Alert, AlertSink
from watchd.store import StoreError

# Commits tried at most to isolate culprits: a few bad alerts among thousands take about
# 2·log2(n) commits each; a fault that fails every alert must not cost one commit per alert.
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class Refused:
    """An alert (by its position in the batch) that failed alone, and why."""

    position: int
    error: Exception

    @property
    def reason(self) -> str:
        if isinstance(self.error, StoreError):
            return self.error.reason
        return f"{type(self.error).__name__}: {self.error}"


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the store is failing (retry later), not that a batch was refused."""
    return isinstance(exc, StoreError) and exc.outage


async def submit_isolating(sink: AlertSink, alerts: Sequence[Alert]) -> list[Refused]:
    """Submit `alerts` to `sink`; return the ones that failed alone, in order.

    Raises StoreError when the store has an outage (possibly after some halves were committed:
    submitting them again only repeats what is stored).
    """
    attempts = [MAX_ATTEMPTS]
    refused: list[Refused] = []
    await _submit(sink, list(enumerate(alerts)), refused, attempts)
    return refused


async def _submit(
    sink: AlertSink, part: list[tuple[int, Alert]], refused: list[Refused], attempts: list[int]
) -> None:
    attempts[0] -= 1
    try:
        await sink.submit(tuple(alert for _, alert in part))
    except Exception as exc:
        if is_outage(exc):
            raise
        if len(part) == 1 or attempts[0] <= 0:
            refused.extend(Refused(position, exc) for position, _ in part)
            return
        half = len(part) // 2
        await _submit(sink, part[:half], refused, attempts)
        await _submit(sink, part[half:], refused, attempts)
