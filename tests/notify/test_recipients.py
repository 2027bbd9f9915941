"""Pages to people: an outbox row naming a person goes through a configured receiver to that
person's address (mail `to`, a chat or robot mention, the number in an SMS gateway's payload,
an MQTT topic, exec variables), with an idempotency key and an ack link of its own."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from tests.mqtt_broker import Broker
from tests.notify.conftest import Hook, Notify, alert, ok
from tests.notify.test_receivers import Inbox, free_port, mail_receiver
from tests.notify.test_robots import Robot, receiver, robot_server, text_of  # noqa: F401  (robot_server: fixture)
from watchd.incidents.ledger import Ledger
from watchd.incidents.lifecycle import acknowledge
from watchd.incidents.model import Page
from watchd.notify.acklinks import verify_token
from watchd.store.engine import transact

ALICE = Page("alice", "Alice Li", "sms", "gateway", "+8613800000001")
BOB = Page("bob", "bob", "sms", "gateway", "+8613800000002")


def config(*receivers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Receivers for people, and a log receiver that alone hears the route's notifications."""
    return {
        "receivers": [{"name": "log", "kind": "log"}, *receivers],
        "route": {"receivers": ["log"]},
        **extra,
    }


async def page(notify: Notify, *pages: Page, incident_id: int = 1) -> None:
    """Write an "escalated" notification of the incident to `pages`, as an escalation step does."""

    async def write(conn: Any) -> None:
        ledger = Ledger(conn, notify.clock.now(), notify.settings)
        incident = await ledger.load(incident_id)
        await ledger.notify(incident, "escalated", {"step": 1}, receivers=[], pages=pages)

    await transact(notify.store.engine, "page", write)


async def test_a_gateway_webhook_gets_each_person_with_their_number_and_own_key(
    make_notify: Any, hook_server: Any
) -> None:
    """Two people paged through one SMS gateway webhook get one request each, with their number in `recipient` and distinct Idempotency-Keys, and the timeline says who was paged."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(
        config({"name": "gateway", "kind": "webhook", "url": hook.url})
    )
    await notify.send(alert("db1"))
    await page(notify, ALICE, BOB)
    await notify.pump(2)
    assert [d["recipient"] for d in hook.received] == [ALICE.recipient(), BOB.recipient()]
    keys = [h["Idempotency-Key"] for h in hook.headers]
    event = keys[0].removesuffix(":alice:sms")
    assert keys == [f"{event}:alice:sms", f"{event}:bob:sms"]
    timeline = await notify.timeline(1)
    (sent,) = [d for k, d in timeline if k == "notification" and d["kind"] == "escalated"]
    assert sent["pages"] == [ALICE.summary(), BOB.summary()] and sent["receivers"] == []
    delivered = [d["recipient"] for k, d in timeline if k == "delivered" and "recipient" in d]
    assert delivered == ["alice", "bob"]


@pytest.mark.integration
async def test_email_pages_go_to_each_persons_address_in_a_mail_of_their_own(
    make_notify: Any,
) -> None:
    """A page through the email receiver goes to the person's address, one mail per person, while the receiver's own `to` gets the route's notifications."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        notify: Notify = await make_notify(
            {"receivers": [mail_receiver(port)], "route": {"receivers": ["mail"]}}
        )
        await notify.send(alert("db1"))
        await page(
            notify,
            Page("alice", "Alice Li", "mail", "mail", "alice@example.com"),
            Page("bob", "bob", "mail", "mail", "bob@example.com"),
        )
        await notify.pump(2)
    finally:
        controller.stop()
    assert sorted(m["To"] for m in inbox.messages) == [
        "alice@example.com",
        "bob@example.com",
        "oncall@example.com",
    ]
    alice = next(m for m in inbox.messages if m["To"] == "alice@example.com")
    assert alice["X-Watchd-Idempotency-Keys"].endswith(":alice:mail")
    assert {r["state"] for r in await notify.outbox("mail")} == {"delivered"}


async def test_a_chat_page_mentions_the_person_and_its_ack_link_names_them(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """A chat page starts with the person's handle as the contact gives it (a real mention), and its acknowledge link is signed for that person, who is named as "Display (user)" when it acknowledges."""
    (tmp_path / "ack.key").write_text("k" * 32)
    slack = await hook_server(ok())
    notify: Notify = await make_notify(
        config(
            {"name": "slack", "kind": "chat", "url": slack.url},
            notify={
                "ack_links": {
                    "base_url": "http://127.0.0.1:9797",
                    "key": {"file": str(tmp_path / "ack.key")},
                }
            },
        )
    )
    await notify.send(alert("db1"))
    await page(notify, Page("alice", "Alice Li", "chat", "slack", "<@U024BE7LH>"))
    await notify.pump(2)
    (msg,) = slack.received
    assert msg["text"].startswith("<@U024BE7LH> ")
    token = msg["text"].split("/ack/")[1].split("|")[0]
    who = json.loads(_unb64(token.split(".")[3]))
    assert who == ["slack", "Alice Li (alice)"]
    claim = verify_token(b"k" * 32, token, notify.clock.now())
    assert claim.actor() == "Alice Li (alice) via ack link to slack"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(
    ("platform", "address", "mention"),
    [
        ("dingtalk", "+8613800000001", "@8613800000001"),
        ("wecom", "alice.li", "<@alice.li>"),
        ("feishu", "ou_7d8a6e6df7621556ce0d21922b676706", "<at id=ou_7d8a6e6df7621556ce0d21922b676706></at>"),
    ],
)  # fmt: skip
async def test_a_robot_page_mentions_the_person_the_platforms_way(
    make_notify: Any,
    robot_server: Any,  # noqa: F811
    tmp_path: Path,
    platform: str,
    address: str,
    mention: str,
) -> None:
    """DingTalk, WeCom and Feishu pages mention the person in the message (DingTalk also in `at`, which is what rings their phone)."""
    robot: Robot = await robot_server(platform)
    notify: Notify = await make_notify(config(receiver(robot, tmp_path)))
    await notify.send(alert("db1"))
    await page(notify, Page("alice", "Alice Li", "robot", platform, address))
    await notify.pump(2)
    (doc,) = robot.accepted
    assert text_of(platform, doc).startswith(mention + "\n\n**ESCALATED")
    if platform == "dingtalk":
        assert doc["at"] == {"atMobiles": ["8613800000001"]}


async def test_exec_gets_the_person_and_their_address(make_notify: Any, tmp_path: Path) -> None:
    """An exec contact (a local paging tool) sees who is paged and where in WATCHD_RECIPIENT_* variables."""
    script = tmp_path / "pager.py"
    script.write_text(
        "import os\n"
        "print(os.environ['WATCHD_RECIPIENT_USER'], os.environ['WATCHD_RECIPIENT_CONTACT'],"
        " os.environ['WATCHD_RECIPIENT_ADDRESS'])\n"
    )
    notify: Notify = await make_notify(
        config({"name": "pager", "kind": "exec", "command": [sys.executable, str(script)]})
    )
    await notify.send(alert("db1"))
    await page(notify, Page("alice", "Alice Li", "pager", "pager", "+8613800000001"))
    await notify.pump(2)
    (entry,) = await notify.deliveries("pager")
    assert entry["response"].strip() == "alice pager +8613800000001"


@pytest.mark.integration
async def test_an_mqtt_page_goes_to_the_persons_topic(make_notify: Any, broker: Broker) -> None:
    """A page through the mqtt receiver is published to the person's topic, not the receiver's."""
    notify: Notify = await make_notify(
        config({"name": "bus", "kind": "mqtt", "host": "127.0.0.1", "port": broker.port})
    )
    await notify.send(alert("db1"))
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "people/alice", "-C", "1", "-W", "10",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.3)  # subscribed before the page is published
    await page(notify, Page("alice", "Alice Li", "phone-app", "bus", "people/alice"))
    await notify.pump(2)
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert json.loads(out)["recipient"]["user"] == "alice"
    (entry,) = await notify.deliveries("bus")
    assert entry["response"] == "published to people/alice"


async def test_an_acknowledgement_follow_up_reaches_the_paged_person_only_after_their_page(
    make_notify: Any, hook_server: Any
) -> None:
    """alice's SMS page meets a gateway answering 503 twice; bob acknowledges meanwhile: alice's "acknowledged" follow-up goes through the same gateway only after her page got through, keyed per person, and bob, who acknowledged, gets none."""

    async def flaky(request: Any, n: int) -> Any:
        return web.Response(status=503) if n < 2 else None

    hook: Hook = await hook_server(flaky)
    people = {
        "users": [
            {"name": "alice", "display_name": "Alice Li", "contacts": [_sms(ALICE)]},
            {"name": "bob", "contacts": [_sms(BOB)]},
        ]
    }
    notify: Notify = await make_notify(
        config({"name": "gateway", "kind": "webhook", "url": hook.url, **FAST}, **people)
    )
    await notify.send(alert("db1"))
    await page(notify, ALICE, BOB)
    await notify.pump(2)

    async def ack(conn: Any) -> None:
        await acknowledge(Ledger(conn, notify.clock.now(), notify.settings), 1, "bob")

    await transact(notify.store.engine, "ack", ack)
    for _ in range(10):
        notify.clock.step(5.0)
        await notify.pump(2)
    kinds = [(d["recipient"]["user"], d["event"]["kind"]) for d in hook.unique.values()]
    assert kinds == [("alice", "escalated"), ("bob", "escalated"), ("alice", "acknowledged")]
    page_key, _, ack_key = hook.unique
    assert ack_key.endswith(":alice:sms") and ack_key != page_key
    delivered = [(d["recipient"]["user"], d["event"]["kind"]) for d in hook.received]
    assert delivered.index(("alice", "acknowledged")) > max(
        i for i, d in enumerate(delivered) if d == ("alice", "escalated")
    )


FAST = {"backoff_initial": "1s", "backoff_max": "2s"}


def _sms(page: Page) -> dict[str, str]:
    return {"name": page.contact, "receiver": page.receiver, "address": page.address}
