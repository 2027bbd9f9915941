"""`watchd notify test RECEIVER`: send a test notification through a configured receiver, now,
and print what happened (status, latency, answer). Nothing is written to the store: a ticket
receiver really opens a ticket for the test incident (id 0) in the ticketing system, and then
closes it again with the test incident's resolution (and closing)."""

from __future__ import annotations

import argparse
import asyncio
import json
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
    cmd.add_argument("--json", action="store_true", help="print the outcome as JSON")
    cmd.set_defaults(func=_test)


# The test incident's events: opened, then (ticket receivers) resolved and closed.
_TEST_STATES = {"opened": State.OPEN, "resolved": State.RESOLVED, "closed": State.CLOSED}


def test_notification(
    receiver: str, now: float, links: dict[str, str], kind: str = "opened"
) -> Notification:
    """A notification (firing, or `kind` "resolved" or "closed") for a made-up incident 0,
    shaped like real ones."""
    seq = list(_TEST_STATES).index(kind) + 1
    firing = kind == "opened"
    incident = Incident(
        id=0,
        key="watchd-notify-test",
        group_labels={"alertname": "WatchdNotifyTest", "item": "watchd"},
        title="Test notification from watchd",
        item="watchd",
        state=_TEST_STATES[kind],
        severity="info",
        seq=seq,
        opened_at=now,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None if firing else now,
        resolved_by=None if firing else "watchd",
        closed_at=now if kind == "closed" else None,
        closed_by="watchd" if kind == "closed" else None,
        notified="firing" if firing else "resolved",
        notified_at=now,
        audible=firing,
        escalation_policy=None,
        escalation_step=0,
        escalation_from=now,
        sla_ack_breached=False,
        sla_resolve_breached=False,
        muted_since=None,
        muted_seconds=0.0,
        problem_id=None,
        change_id=None,
        updated_at=now,
    )
    event = Event(0, seq, now, kind, "watchd", {"test": True})
    alerts = [
        {
            "fingerprint": "0" * 16,
            "role": "member",
            "muted": None,
            "status": "firing" if firing else "resolved",
            "labels": {"alertname": "WatchdNotifyTest", "item": "watchd", "severity": "info"},
            "annotations": {"summary": "If you read this, notifications to this receiver work."},
            "starts_at": now,
            "ends_at": None if firing else now,
            "generator_url": "",
            "source": "watchd",
        }
    ]
    return Notification(
        outbox_id=0,
        incident_id=0,
        seq=seq,
        idempotency_key=f"test:{int(now)}" + (f":{seq}" if seq > 1 else ""),
        receiver=receiver,
        kind=kind,
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
    return asyncio.run(
        _send(config, found[args.receiver], Path(args.config).parent, as_json=args.json)
    )


def outcome_json(outcome: Outcome, seconds: float) -> dict[str, Any]:
    """`watchd notify test --json`'s account of one delivery."""
    return {
        "ok": outcome.ok,
        "retryable": None if outcome.ok else outcome.retryable,
        "status": outcome.status,
        "duration_ms": round(seconds * 1000),
        "error": outcome.error,
        "notes": list(outcome.notes),
        "response": outcome.response,
    }


async def _send(config: Any, receiver_config: Any, base: Path, *, as_json: bool) -> int:
    clock = SystemClock()
    links: dict[str, str] = {}
    if config.notify.ack_links is not None:
        ack = config.notify.ack_links
        maker = LinkMaker(ack.base_url, ack.key.reveal().encode(), ack.ttl)
        links = maker.links(
            0, clock.now(), Recipient(receiver_config.name, receiver_config.address())
        )
    if getattr(receiver_config, "lookup", None) is not None:
        # Every test is incident 0: a lookup would find an earlier test's (closed) ticket.
        receiver_config = receiver_config.model_copy(update={"lookup": None})
    receiver = build_receiver(
        receiver_config, clock=clock, base=base, engine=None, locale=config.daemon.locale
    )
    note = test_notification(receiver_config.name, clock.now(), links)
    started = time.monotonic()
    cleaned = True
    report: dict[str, Any] = {"receiver": receiver_config.name, "kind": receiver_config.kind}
    try:
        outcome = await _deliver(receiver, note, receiver_config.timeout)
        seconds = time.monotonic() - started
        report.update(outcome_json(outcome, seconds))
        if not as_json:  # at once: closing a test ticket may take a while more
            print(f"{receiver_config.name} ({receiver_config.kind}): {describe(outcome, seconds)}")
        ticket_id = outcome.detail.get("ticket_id") if outcome.ok else None
        if ticket_id is not None:
            cleaned, what = await _close_test_ticket(
                receiver, receiver_config, str(ticket_id), links
            )
            report["ticket"] = {"id": str(ticket_id), "closed": cleaned, "message": what}
            if not as_json:
                print(what)
    finally:
        await receiver.aclose()
    if as_json:
        print(json.dumps(report, indent=2))
    return 0 if outcome.ok and cleaned else 1


async def _deliver(receiver: Any, note: Notification, seconds: float) -> Outcome:
    """Deliver `note`, giving up `seconds` (the receiver's timeout) and 5 more after."""
    try:
        async with asyncio.timeout(seconds + 5.0):
            outcome: Outcome = await receiver.deliver([note])
            return outcome
    except TimeoutError:
        return Outcome(False, error="no answer in time (timeout)")


async def _close_test_ticket(
    receiver: Any, receiver_config: Any, ticket_id: str, links: dict[str, str]
) -> tuple[bool, str]:
    """Resolve and close the test incident, so the ticket it opened does not stay open; whether
    it was closed, and a line saying what became of the ticket."""
    done: list[str] = []
    for kind in ("resolved", "closed"):
        note = test_notification(receiver_config.name, time.time(), links, kind)
        started = time.monotonic()
        outcome = await _deliver(receiver, note, receiver_config.timeout)
        if not outcome.ok:
            line = describe(outcome, time.monotonic() - started)
            return False, f"test ticket {ticket_id} left open: {kind}: {line}"
        done += str(outcome.detail.get("ticket_action", "")).split("+")
    if "resolve" in done or "close" in done:
        calls = ", ".join(a for a in done if a in ("resolve", "close"))
        return True, f"test ticket {ticket_id} closed again ({calls})"
    return False, f"test ticket {ticket_id} left open: the receiver has no resolve or close call"
