"""Hand-off notices: the person a shift brings on call gets one notice through the contact that
would page them first (an SMS gateway on loopback, real aiosmtpd, a chat hook, a DingTalk robot,
Mosquitto, an exec command, the log), stored first, retried with backoff, never twice."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from structlog.testing import capture_logs

from tests.mqtt_broker import Broker
from tests.notify.conftest import Hook, Notify, ok, settle
from tests.notify.test_receivers import Inbox, free_port, mail_receiver
from tests.notify.test_robots import Robot, receiver, robot_server, text_of  # noqa: F401  (robot_server: fixture)
from watchd.notify.handoffs import HandoffNotices, notice_contact
from watchd.people.config import UserConfig
from watchd.store.oncall_tables import handoff_notices

HOUR = 3600.0
HANDOFF = 1_800_003_600.0  # 2027-01-15T09:00Z: bob takes over from alice (FakeClock starts 08:00)


# bob's rules page him by SMS at once and by mail after 5 minutes: his notice goes by SMS.
SMS_FIRST = [{"contact": "sms"}, {"contact": "mail", "after": "5m"}]


def config(
    url: str,
    *,
    notify_handoff: bool = True,
    bob_contacts: Any = None,
    bob_notify: Any = SMS_FIRST,
    receivers: Any = (),
    **extra: Any,
) -> dict[str, Any]:
    """A daily 09:00 UTC rotation of alice and bob; bob's SMS goes through a webhook gateway."""
    contacts = (
        bob_contacts
        if bob_contacts is not None
        else [
            {"name": "mail", "receiver": "mail", "address": "bob@example.org"},
            {"name": "sms", "receiver": "gateway", "address": "+8613800000002"},
        ]
    )
    return {
        **extra,
        "receivers": [
            {"name": "log", "kind": "log"},
            {"name": "gateway", "kind": "webhook", "url": url, "backoff_initial": "10s"},
            {
                "name": "mail",
                "kind": "email",
                "host": "127.0.0.1",
                "sender": "watchd@example.org",
                "to": ["ops@example.org"],
            },
            *receivers,
        ],
        "route": {"receivers": ["log"]},
        "users": [
            {"name": "alice"},
            {
                "name": "bob",
                "display_name": "Bob Wu",
                "timezone": "Asia/Shanghai",
                "contacts": contacts,
                "notify": bob_notify,
            },
        ],
        "schedules": [
            {
                "name": "primary",
                "notify_handoff": notify_handoff,
                "layers": [
                    {
                        "name": "daily",
                        "users": ["alice", "bob"],
                        "start": "2027-01-14T09:00",
                        "rotation": "1d",
                    }
                ],
            }
        ],
    }


def notices(notify: Notify) -> HandoffNotices:
    """The job as the daemon builds it (a new one stands for a restart or another node)."""
    return HandoffNotices(
        notify.store.engine,
        clock=notify.clock,
        people=notify.config.people,
        installed=lambda: notify.dispatcher.installed,
        locale=lambda: notify.config.daemon.locale,
        rand=random.Random(1),
    )


async def run(job: HandoffNotices) -> None:
    await job.run()
    await settle()


async def test_the_incoming_person_gets_one_notice_through_their_gateway(
    make_notify: Any, hook_server: Any
) -> None:
    """At 09:00 bob gets exactly one SMS-gateway request (his rules page him by SMS first) saying, in his time zone, that he is on call until the next 09:00; later runs and a restarted job send no more."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(config(hook.url))
    job = notices(notify)
    await run(job)  # 08:00: alice has been on call since yesterday: nobody is told
    assert hook.received == []
    notify.clock.step(HOUR)
    await run(job)
    await run(job)
    await run(notices(notify))
    assert len(hook.received) == 1
    body = hook.received[0]
    assert body["kind"] == "handoff"
    assert body["text"] == (
        "You are on call for primary from 2027-01-15 17:00 to 2027-01-16 17:00 (Asia/Shanghai)."
    )
    assert body["recipient"] == {
        "user": "bob",
        "name": "Bob Wu",
        "contact": "sms",
        "address": "+8613800000002",
    }
    assert body["start"] == "2027-01-15T09:00:00+00:00"
    assert hook.headers[0]["Idempotency-Key"] == f"handoff:primary:{HANDOFF:.0f}"
    rows = await notify.rows(handoff_notices.select())
    assert [(r["user"], r["state"], r["attempts"]) for r in rows] == [("bob", "delivered", 1)]


async def test_a_failing_gateway_is_retried_with_backoff_until_it_takes_the_notice(
    make_notify: Any, hook_server: Any
) -> None:
    """A gateway answering 503 twice gets the notice again only after the receiver's backoff, and once delivered it is not sent again."""

    async def flaky(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=503) if n < 2 else None

    hook: Hook = await hook_server(flaky)
    notify: Notify = await make_notify(config(hook.url))
    job = notices(notify)
    notify.clock.step(HOUR)
    await run(job)
    await run(job)  # before the backoff: not tried again
    assert len(hook.received) == 1
    for _ in range(4):
        notify.clock.step(60.0)
        await run(job)
    assert len(hook.received) == 3
    assert len(hook.unique) == 1
    rows = await notify.rows(handoff_notices.select())
    assert [(r["state"], r["attempts"]) for r in rows] == [("delivered", 3)]


async def test_a_refused_notice_is_recorded_failed_and_not_retried(
    make_notify: Any, hook_server: Any
) -> None:
    """A gateway answering 400 gets the notice once; the row says failed with the HTTP status."""
    hook: Hook = await hook_server(lambda request, n: _answer(400))
    notify: Notify = await make_notify(config(hook.url))
    job = notices(notify)
    notify.clock.step(HOUR)
    await run(job)
    notify.clock.step(HOUR)
    await run(job)
    assert len(hook.received) == 1
    rows = await notify.rows(handoff_notices.select())
    assert [(r["state"], r["error"]) for r in rows] == [("failed", "HTTP 400")]


async def _answer(status: int) -> web.Response:
    return web.Response(status=status)


async def test_a_person_without_any_contact_is_recorded_unreachable(
    make_notify: Any, hook_server: Any
) -> None:
    """bob with no contact gets nothing; his hand-off is stored as failed, saying why, once."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(config(hook.url, bob_contacts=[], bob_notify=[]))
    job = notices(notify)
    notify.clock.step(HOUR)
    await run(job)
    await run(job)
    assert hook.received == []
    rows = await notify.rows(handoff_notices.select())
    assert [(r["state"], r["error"]) for r in rows] == [
        ("failed", "bob has no contact that can take a notice")
    ]


def test_the_notice_goes_to_the_contact_that_pages_first_skipping_tickets() -> None:
    """The contact of the rule with the shortest delay is chosen (the first rule on a tie); one through a receiver that cannot take a notice (a ticket) gives way to the next; with no rules, the first contact."""
    user = UserConfig.model_validate(
        {
            "name": "bob",
            "contacts": [
                {"name": "mail", "receiver": "mail", "address": "bob@example.org"},
                {"name": "desk", "receiver": "jira", "address": "bob"},
                {"name": "sms", "receiver": "gateway", "address": "+86138"},
            ],
            "notify": [
                {"contact": "mail", "after": "10m"},
                {"contact": "desk"},
                {"contact": "sms", "after": "1m"},
            ],
        }
    )
    takers = {"mail", "gateway"}
    assert (found := notice_contact(user, takers)) is not None and found.name == "sms"
    assert (found := notice_contact(user, {"mail"})) is not None and found.name == "mail"
    plain = user.model_copy(update={"notify": []})
    assert (found := notice_contact(plain, takers)) is not None and found.name == "mail"
    assert notice_contact(user, set()) is None
    assert notice_contact(None, takers) is None


async def hand_off_to_bob(
    make_notify: Any, url: str, receiver: dict[str, Any], address: str, **extra: Any
) -> Notify:
    """bob's only contact goes through `receiver` at `address`; run the job at his 09:00
    hand-off."""
    contacts = [{"name": "only", "receiver": receiver["name"], "address": address}]
    notify: Notify = await make_notify(
        config(url, bob_contacts=contacts, bob_notify=[], receivers=[receiver], **extra)
    )
    notify.clock.step(HOUR)
    await run(notices(notify))
    return notify


SENTENCE = "You are on call for primary from 2027-01-15 17:00 to 2027-01-16 17:00 (Asia/Shanghai)."


@pytest.mark.integration
async def test_a_mail_contact_gets_a_notice_mail_of_its_own(
    make_notify: Any, hook_server: Any
) -> None:
    """bob whose first contact is mail gets one mail at his own address (not the receiver's `to`), with an on-call subject and the sentence as text and HTML."""
    hook: Hook = await hook_server(ok())
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = mail_receiver(port, name="smtp")
        contacts = [{"name": "mail", "receiver": "smtp", "address": "bob@example.org"}]
        notify: Notify = await make_notify(
            config(hook.url, bob_contacts=contacts, bob_notify=[], receivers=[mail])
        )
        notify.clock.step(HOUR)
        await run(notices(notify))
        await run(notices(notify))
    finally:
        controller.stop()
    (msg,) = inbox.messages
    assert msg["To"] == "bob@example.org"
    assert msg["Subject"] == "[watchd] On call: primary"
    assert msg["X-Watchd-Idempotency-Keys"] == f"handoff:primary:{HANDOFF:.0f}"
    text, html = (part.get_payload(decode=True).decode() for part in msg.get_payload())
    assert text.strip() == SENTENCE
    assert f"<p>{SENTENCE}</p>" in html
    assert hook.received == []


async def test_a_chat_contact_gets_a_message_mentioning_them(
    make_notify: Any, hook_server: Any
) -> None:
    """bob's Slack contact gets one message starting with his handle (a real mention) and saying his shift, with no incident buttons or title."""
    slack: Hook = await hook_server(ok())
    chat = {"name": "slack", "kind": "chat", "url": slack.url}
    await hand_off_to_bob(make_notify, slack.url, chat, "<@U024BE7LH>")
    (msg,) = slack.received
    assert msg["text"] == f"<@U024BE7LH> :pager: {SENTENCE}"
    assert msg["attachments"][0]["fallback"] == "On call: primary"


async def test_a_teams_contact_gets_a_card_titled_on_call(
    make_notify: Any, hook_server: Any
) -> None:
    """A Teams contact gets a MessageCard titled with the schedule, the sentence as its text and no buttons."""
    teams: Hook = await hook_server(ok())
    chat = {"name": "teams", "kind": "chat", "url": teams.url, "flavor": "teams"}
    await hand_off_to_bob(make_notify, teams.url, chat, "Bob Wu")
    (card,) = teams.received
    assert card["title"] == "On call: primary"
    assert card["text"].endswith(SENTENCE)
    assert card["potentialAction"] == []


async def test_a_dingtalk_contact_is_mentioned_and_at_named(
    make_notify: Any,
    hook_server: Any,
    robot_server: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A DingTalk contact gets a Markdown notice that mentions bob's number and names it in `at` (which rings his phone), titled with the schedule."""
    hook: Hook = await hook_server(ok())
    robot: Robot = await robot_server("dingtalk")
    await hand_off_to_bob(make_notify, hook.url, receiver(robot, tmp_path), "+8613800000002")
    (doc,) = robot.accepted
    assert text_of("dingtalk", doc) == f"@8613800000002\n\n**On call: primary**\n\n{SENTENCE}"
    assert doc["markdown"]["title"] == "On call: primary"
    assert doc["at"] == {"atMobiles": ["8613800000002"]}


async def test_an_exec_contact_gets_the_shift_in_its_environment(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """An exec contact (a local pager tool) sees who, where, the schedule and the sentence in WATCHD_* variables."""
    hook: Hook = await hook_server(ok())
    script = tmp_path / "pager.py"
    seen = tmp_path / "seen.txt"
    script.write_text(
        "import os, sys\n"
        f"open({str(seen)!r}, 'w').write('|'.join(os.environ[name] for name in sys.argv[1:]))\n"
    )
    names = ["WATCHD_KIND", "WATCHD_RECIPIENT_ADDRESS", "WATCHD_SCHEDULE", "WATCHD_MESSAGE"]
    pager = {"name": "pager", "kind": "exec", "command": [sys.executable, str(script), *names]}
    notify = await hand_off_to_bob(make_notify, hook.url, pager, "+8613800000002")
    for _ in range(50):  # the command runs in real time
        rows = await notify.rows(handoff_notices.select())
        if rows[0]["state"] != "pending":
            break
        await settle(0.1)
    assert [(r["receiver"], r["state"]) for r in rows] == [("pager", "delivered")]
    assert seen.read_text() == f"handoff|+8613800000002|primary|{SENTENCE}"


@pytest.mark.integration
async def test_an_mqtt_contact_gets_the_notice_on_their_topic(
    make_notify: Any, hook_server: Any, broker: Broker
) -> None:
    """bob's MQTT contact gets the notice's JSON (kind handoff, his shift, the sentence) on his own topic, and no incident state is published."""
    hook: Hook = await hook_server(ok())
    bus = {
        "name": "bus",
        "kind": "mqtt",
        "host": "127.0.0.1",
        "port": broker.port,
        "state_topic": "watchd/incidents/{id}/state",
    }
    contacts = [{"name": "app", "receiver": "bus", "address": "people/bob"}]
    notify: Notify = await make_notify(
        config(hook.url, bob_contacts=contacts, bob_notify=[], receivers=[bus])
    )
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "people/bob",
        "-t", "watchd/incidents/#", "-C", "1", "-W", "10", "-v",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.3)  # subscribed before the notice is published
    notify.clock.step(HOUR)
    await run(notices(notify))
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    topic, _, body = out.decode().partition(" ")
    assert topic == "people/bob"
    doc = json.loads(body)
    assert (doc["kind"], doc["text"], doc["recipient"]["user"]) == ("handoff", SENTENCE, "bob")
    rows = await notify.rows(handoff_notices.select())
    assert [(r["receiver"], r["state"]) for r in rows] == [("bus", "delivered")]


async def test_chinese_notices_with_the_zh_cn_locale(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """With [daemon] locale = "zh_CN" the notice is written in Chinese: the stored sentence a gateway or topic gets, and a Slack message."""
    slack: Hook = await hook_server(ok())
    chat = {"name": "slack", "kind": "chat", "url": slack.url}
    notify = await hand_off_to_bob(make_notify, slack.url, chat, "@bob", daemon={"locale": "zh_CN"})
    (msg,) = slack.received
    chinese = "您将于 2027-01-15 17:00 至 2027-01-16 17:00（Asia/Shanghai）在 primary 值班。"
    assert msg["text"] == f"@bob :pager: {chinese}"
    (row,) = await notify.rows(handoff_notices.select())
    assert json.loads(row["payload"])["text"] == chinese


async def test_a_log_contact_gets_a_line_with_the_sentence(
    make_notify: Any, hook_server: Any
) -> None:
    """A contact through the log receiver (a test setup, a fresh install) gets one notification line carrying the notice's sentence and bob's name."""
    hook: Hook = await hook_server(ok())
    contacts = [{"name": "log", "receiver": "log", "address": "bob"}]
    notify: Notify = await make_notify(config(hook.url, bob_contacts=contacts, bob_notify=[]))
    notify.clock.step(HOUR)
    with capture_logs() as logs:
        await run(notices(notify))
    (line,) = [e for e in logs if e["event"] == "notification"]
    assert (line["kind"], line["message"], line["recipient"]) == ("handoff", SENTENCE, "bob")


async def test_a_schedule_with_notify_handoff_off_tells_nobody(
    make_notify: Any, hook_server: Any
) -> None:
    """notify_handoff = false: bob's hand-off sends nothing and stores nothing."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(config(hook.url, notify_handoff=False))
    notify.clock.step(HOUR)
    await run(notices(notify))
    assert hook.received == []
    assert await notify.rows(handoff_notices.select()) == []
