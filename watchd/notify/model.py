"""What the dispatcher hands a receiver and what a receiver answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock

EXCERPT = 500
# The `kind` of a hand-off notice (watchd.notify.handoffs): about a shift, not an incident, so
# each receiver renders it with its notice template, not its incident one.
HANDOFF = "handoff"


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row on its way: an incident event for one receiver.

    `context` is what templates see besides the payload: ack_url, incident_url.
    """

    outbox_id: int
    incident_id: int
    seq: int
    idempotency_key: str
    receiver: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def recipient(self) -> dict[str, str] | None:
        """The person this notification pages (`user`, `name`, `contact`, and the `address`
        the receiver delivers to instead of its own destination), or None for the
        receiver's own destination."""
        found = self.payload.get("recipient")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery attempt went.

    `retryable` matters only when not `ok`: a 4xx other than 408/429 is not retried.
    `retry_after` is the receiver's own wish (Retry-After), in seconds from now.
    `notes` are problems that did not stop the delivery (a template fell back to the default).
    """

    ok: bool
    retryable: bool = True
    status: int | None = None
    response: str = ""
    error: str = ""
    retry_after: float | None = None
    notes: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


class Receiver(Protocol):
    """A notification channel. `batch` receivers get every due row of a notification group in
    one call (one email per group); the others get one row per call, in order."""

    name: str
    batch: bool

    async def deliver(self, notes: Sequence[Notification]) -> Outcome: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceiverEnv:
    """What a receiver may need besides its config: the clock, the directory relative paths
    are taken from, the store (None for `watchd notify test`) and the locale of its default
    templates (`[daemon] locale`)."""

    clock: Clock
    base: Path
    engine: AsyncEngine | None
    locale: str = "en"


class ReceiverClass(Protocol):
    """What the receiver registry holds: a receiver class with its kind and config model."""

    kind: str
    Config: type[Any]

    def __call__(self, config: Any, env: ReceiverEnv) -> Receiver: ...


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The first `limit` characters of a response, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def http_outcome(status: int, body: str, retry_after: float | None) -> Outcome:
    """The outcome of an HTTP answer: 2xx delivered; 408, 429 and 5xx retried; other 4xx not."""
    if 200 <= status < 300:
        return Outcome(True, status=status, response=excerpt(body))
    retryable = status in (408, 429) or status >= 500 or status < 400
    return Outcome(
        False,
        retryable=retryable,
        status=status,
        response=excerpt(body),
        error=f"HTTP {status}",
        retry_after=retry_after,
    )
