"""What one delivery attempt of one row comes to: its status, when to try again (backoff or
the receiver's Retry-After) and the timeline event, decided from the receiver's Outcome."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from watchd.notify.backoff import backoff
from watchd.notify.model import Outcome, excerpt
from watchd.notify.outbox import Row
from watchd.notify.receivers import AnyReceiver
from watchd.store.incident_tables import OutboxState


class Status(StrEnum):
    """A delivery log row's `status` (the stored text is the value)."""

    DELIVERED = "delivered"
    SKIPPED = "skipped"  # not sent: send_resolved = false
    RETRY = "retry"  # tried again later
    FAILED = "failed"  # refused, not retried
    EXPIRED = "expired"  # given up on: older than max_age

    @property
    def sent(self) -> bool:
        """The row is done and counts as notified (its group's timers move on)."""
        return self in (Status.DELIVERED, Status.SKIPPED)

    @property
    def gave_up(self) -> bool:
        """The row is final without having been delivered."""
        return self in (Status.FAILED, Status.EXPIRED)

    @property
    def state(self) -> OutboxState:
        """The outbox row's state after an attempt with this status."""
        # Looked up, not made: OutboxState(value) cost a microsecond per recorded outcome.
        return _STATES[self]


_STATES = {
    status: OutboxState.PENDING if status is Status.RETRY else OutboxState(status.value)
    for status in Status
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt of one row and what becomes of the row."""

    row: Row
    started_at: float
    latency: float
    status: Status
    http_status: int | None
    response: str
    error: str
    next_attempt_at: float
    event: tuple[str, dict[str, Any]] | None  # timeline event to append, if any
    tried: bool = True  # False: given up on without sending (expired while waiting)


def judge(
    row: Row,
    outcome: Outcome,
    config: AnyReceiver,
    *,
    started_at: float,
    latency: float,
    now: float,
    skipped: bool,
    rand: random.Random,
) -> Attempt:
    """The attempt `outcome` makes of `row` for the receiver `config`: delivered (or skipped),
    failed (not retryable), expired (past max_age) or retried after Retry-After or backoff."""
    status, next_at = decide(
        outcome,
        config,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        now=now,
        rand=rand,
    )
    if status is Status.DELIVERED and skipped:
        status = Status.SKIPPED
    kind = _EVENT[status]
    notes = outcome.notes
    error = storable("; ".join(x for x in (outcome.error, *notes) if x) if notes else outcome.error)
    response = storable(outcome.response)
    # Built key by key in the stored order (a storm judges one row per delivery): the
    # optional keys and the outcome's own detail cost a dict and an unpacking each as
    # **{...}; an outcome's key given again keeps its place and takes the new value, as then.
    detail: dict[str, Any] = {"receiver": row.receiver}
    person = row.payload.get("recipient") if row.payload else None
    if isinstance(person, dict):
        detail["recipient"] = person.get("user", "")
    detail["notification"] = row.kind
    detail["seq"] = row.seq
    detail["attempt"] = row.attempts + 1
    detail["status"] = status.value
    detail["http_status"] = outcome.status
    detail["latency"] = round(latency, 4)
    if error:
        detail["error"] = error
    if response:
        detail["response"] = excerpt(response, 200)
    for key, value in outcome.detail.items():
        detail[key] = storable(value) if isinstance(value, str) else value
    # The timeline gets outcomes, not every retry: the first failure and the final word.
    event = None if status is Status.RETRY and row.attempts > 0 else (kind, detail)
    return Attempt(
        row=row,
        started_at=started_at,
        latency=latency,
        status=status,
        http_status=outcome.status,
        response=response,
        error=error,
        next_attempt_at=next_at,
        event=event,
    )


_EVENT = {
    Status.DELIVERED: "delivered",
    Status.SKIPPED: "delivered",
    Status.FAILED: "delivery_failed",
    Status.EXPIRED: "delivery_expired",
    Status.RETRY: "delivery_retrying",
}


def decide(
    outcome: Outcome,
    config: AnyReceiver,
    *,
    attempts: int,
    created_at: float,
    next_attempt_at: float,
    now: float,
    rand: random.Random,
) -> tuple[Status, float]:
    """What an attempt's `outcome` makes of a row with `attempts` before it, created at
    `created_at`: delivered, failed (not retryable), expired (past the receiver's max_age) or
    retried, and when it is tried next (Retry-After, else backoff)."""
    if outcome.ok:
        return Status.DELIVERED, next_attempt_at
    if not outcome.retryable:
        return Status.FAILED, next_attempt_at
    if now - created_at >= config.max_age:
        return Status.EXPIRED, next_attempt_at
    delay = outcome.retry_after
    if delay is None:
        delay = backoff(attempts + 1, config.backoff_initial, config.backoff_max, rand)
    return Status.RETRY, now + delay


def storable(text: str) -> str:
    """`text` from a receiver (an answer, a command's output, an error) as every store can
    hold it: PostgreSQL refuses a NUL or a lone surrogate in text, and a delivery whose outcome
    cannot be recorded would be leased and sent again, page after page."""
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def expired(row: Row, now: float, reason: str) -> Attempt:
    """Giving up on `row` without sending it: it waited longer than its max_age."""
    return Attempt(
        row=row,
        started_at=now,
        latency=0.0,
        status=Status.EXPIRED,
        http_status=None,
        response="",
        error=reason,
        next_attempt_at=row.next_attempt_at,
        event=(
            "delivery_expired",
            {"receiver": row.receiver, "notification": row.kind, "seq": row.seq, "error": reason},
        ),
        tried=False,
    )
