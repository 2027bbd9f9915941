"""`watchd notify test RECEIVER`: send a test notification through a configured receiver, now,
and print what happened (status, latency, answer). Nothing is written to the store: a ticket
receiver really opens a ticket for the test incident (id 0) in the ticketing system."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchd.clock import SystemClock
from watchd.config import load_config
from watchd.configbase import ConfigError
from watchd.incidents.model import Event, Incident, State
from watchd.incidents.payload import notification_payload
from watchd.notify.acklinks import LinkMaker, Recipient
from watchd.notify.build import build_receiver
from watchd.notify.model import Notification, Outcome

Command = Callable[[str, str], argparse.ArgumentParser]


def add_commands(sub: Any, command: Command) -> None:
    """Register `watchd notify test RECEIVER` on the parser (`command` adds -c/--config)."""
    del sub
    cmd = command("notify", "Send a test notification through a receiver and print the outcome.")
    cmd.add_argument("action", choices=["test"], help="test: send one test notification")
    cmd.add_argument("receiver", help="receiver name from the config")
    cmd.set_defaults(func=_test)


def test_notification(receiver: str, now: float, links: dict[str, str]) -> Notification:
    """A firing notification for a made-up incident 0, shaped like real ones."""
    incident = Incident(
        id=0,
        key="watchd-notify-test",
        group_labels={"alertname": "WatchdNotifyTest", "item": "watchd"},
        title="Test notification from watchd",
        item="watchd",
        state=State.OPEN,
        severity="info",
        seq=1,
        opened_at=now,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        closed_at=None,
        closed_by=None,
        notified="firing",
        notified_at=now,
        audible=True,
        escalation_policy=None,
        escalation_step=0,
        sla_ack_breached=False,
        sla_resolve_breached=False,
        problem_id=None,
        change_id=None,
        updated_at=now,
    )
    event = Event(0, 1, now, "opened", "watchd", {"test": True})
    alerts = [
        {
            "fingerprint": "0" * 16,
            "role": "member",
            "muted": None,
            "status": "firing",
            "labels": {"alertname": "WatchdNotifyTest", "item": "watchd", "severity": "info"},
            "annotations": {"summary": "If you read this, notifications to this receiver work."},
            "starts_at": now,
            "ends_at": None,
            "generator_url": "",
            "source": "watchd",
        }
    ]
    return Notification(
        outbox_id=0,
        incident_id=0,
        seq=1,
        idempotency_key=f"test:{int(now)}",
        receiver=receiver,
        kind="opened",
        payload=notification_payload(incident, event, alerts, receiver),
        attempt=1,
        context=links,
    )


def describe(outcome: Outcome, seconds: float) -> str:
    """One line (or two) saying how the test went."""
    status = f"HTTP {outcome.status}, " if outcome.status else ""
    head = (
        "delivered"
        if outcome.ok
        else ("failed, would be retried" if outcome.retryable else "failed, would not be retried")
    )
    line = f"{head} ({status}{seconds * 1000:.0f} ms)"
    if outcome.error:
        line += f": {outcome.error}"
    for note in outcome.notes:
        line += f"\nnote: {note}"
    if outcome.response:
        line += f"\nanswer: {outcome.response}"
    return line


def _test(args: argparse.Namespace) -> int:
    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        print(exc)
        return 1
    found = {r.name: r for r in config.receivers}
    if args.receiver not in found:
        print(
            f"error: no receiver named {args.receiver!r} (configured: {', '.join(found) or 'none'})"
        )
        return 1
    return asyncio.run(_send(config, found[args.receiver], Path(args.config).parent))


async def _send(config: Any, receiver_config: Any, base: Path) -> int:
    clock = SystemClock()
    links: dict[str, str] = {}
    if config.notify.ack_links is not None:
        ack = config.notify.ack_links
        maker = LinkMaker(ack.base_url, ack.key.reveal().encode(), ack.ttl)
        links = maker.links(
            0, clock.now(), Recipient(receiver_config.name, receiver_config.address())
        )
    receiver = build_receiver(receiver_config, clock=clock, base=base, engine=None)
    note = test_notification(receiver_config.name, clock.now(), links)
    started = time.monotonic()
    try:
        async with asyncio.timeout(receiver_config.timeout + 5.0):
            outcome = await receiver.deliver([note])
    except TimeoutError:
        outcome = Outcome(False, error="no answer in time (timeout)")
    finally:
        await receiver.aclose()
    print(
        f"{receiver_config.name} ({receiver_config.kind}): {describe(outcome, time.monotonic() - started)}"
    )
    return 0 if outcome.ok else 1
