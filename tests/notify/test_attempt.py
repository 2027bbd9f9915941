"""Judging a delivery outcome without a database: delivered, refused, expired or retried
after the receiver's Retry-After or backoff; the timeline hears the first failure only."""

from __future__ import annotations

import dataclasses
import random

from tests.notify.conftest import NOW
from tests.notify.conftest import outbox_row as row
from watchd.notify.attempt import Attempt, Status, expired, judge
from watchd.notify.model import Outcome
from watchd.notify.receivers.webhook import WebhookReceiver
from watchd.store.incident_tables import OutboxState

CONFIG = WebhookReceiver(
    name="hook", kind="webhook", url="http://127.0.0.1/x", backoff_initial=10, backoff_max=60
)


def attempt(outcome: Outcome, *, attempts: int = 0, created: float = NOW - 10) -> Attempt:
    tried = dataclasses.replace(row(1, created=created), attempts=attempts)
    return judge(
        tried,
        outcome,
        CONFIG,
        started_at=NOW - 1,
        latency=0.5,
        now=NOW,
        skipped=False,
        rand=random.Random(1),
    )


def test_a_delivered_row_is_final_and_told_to_the_timeline() -> None:
    """OK is delivered; the outbox row ends delivered and the timeline gets 'delivered'."""
    got = attempt(Outcome(True, status=200))
    assert got.status is Status.DELIVERED and got.status.state is OutboxState.DELIVERED
    assert got.event is not None and got.event[0] == "delivered"


def test_a_refused_row_fails_without_retry() -> None:
    """A non-retryable answer (4xx) fails the row for good."""
    got = attempt(Outcome(False, retryable=False, status=400, error="HTTP 400"))
    assert got.status is Status.FAILED and got.status.gave_up
    assert got.event is not None and got.event[0] == "delivery_failed"


def test_retry_after_wins_over_backoff_and_backoff_grows_within_bounds() -> None:
    """A retryable failure waits the receiver's Retry-After when given, else jittered
    exponential backoff; the row goes back to pending."""
    got = attempt(Outcome(False, status=429, retry_after=42.0))
    assert got.status is Status.RETRY and got.status.state is OutboxState.PENDING
    assert got.next_attempt_at == NOW + 42.0
    first = attempt(Outcome(False, status=503)).next_attempt_at - NOW
    third = attempt(Outcome(False, status=503), attempts=2).next_attempt_at - NOW
    assert 5.0 <= first <= 10.0 and 20.0 <= third <= 40.0


def test_only_the_first_failure_reaches_the_timeline() -> None:
    """Retries after the first are in the delivery log only, not the incident's timeline."""
    assert attempt(Outcome(False, status=503)).event is not None
    assert attempt(Outcome(False, status=503), attempts=1).event is None


def test_a_failure_past_max_age_expires_and_expiry_is_not_a_try() -> None:
    """A row that fails after its max_age expires; one expired while waiting was not tried."""
    got = attempt(Outcome(False, status=503), created=NOW - CONFIG.max_age)
    assert got.status is Status.EXPIRED
    waited = expired(row(1), NOW, "not delivered within max_age (86400s)")
    assert waited.status is Status.EXPIRED and not waited.tried
    assert waited.event == (
        "delivery_expired",
        {
            "receiver": "hook",
            "notification": "opened",
            "seq": 1,
            "error": "not delivered within max_age (86400s)",
        },
    )
