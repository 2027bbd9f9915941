"""Email (a real aiosmtpd server), chat, MQTT (a real mosquitto) and exec receivers, and
templates that fail, through the dispatcher on a real store."""

from __future__ import annotations

import asyncio
import email
import email.header
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.mqtt_broker import Broker, unretrieved_errors
from tests.notify.conftest import Hook, Notify, ack_links, alert, ok
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.notify.model import Notification, ReceiverEnv
from watchd.notify.receivers.mqtt import Mqtt, MqttReceiver


def _gone(pid: int) -> bool:
    """The process has exited (absent, or a zombie waiting for its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK queued"


def mail_receiver(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "mail",
        "kind": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "watchd@example.com",
        "to": ["oncall@example.com"],
        "timeout": "2s",
        **extra,
    }


async def one_mail(
    notify: Notify, port: int, wait: float = 1.0
) -> tuple[email.message.Message, str, dict[str, str]]:
    """Start a real aiosmtpd server on `port`, deliver what is due in `wait` seconds, and give
    the one mail that arrived, its decoded subject and its parts by content type."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await notify.clock.advance(wait)
        await notify.pump(2)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    (msg,) = inbox.messages
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    return msg, subject, parts


@pytest.mark.integration
async def test_email_waits_for_the_smtp_server_and_sends_one_mail_per_group(
    make_notify: Any,
) -> None:
    """With the SMTP server down the mail is retried; once it is up, one mail per group arrives with subject, text and HTML."""
    port = free_port()
    notify: Notify = await make_notify(
        {
            "receivers": [mail_receiver(port)],
            "route": {"group_by": ["severity"], "group_wait": "10s"},
        }
    )
    await notify.send(alert("db1"), alert("web1"))
    await notify.clock.advance(11)
    await notify.pump(1)
    log = await notify.deliveries("mail")
    assert {d["status"] for d in log} == {"retry"}
    msg, subject, parts = await one_mail(notify, port, 10)
    assert msg["To"] == "oncall@example.com"
    assert "2 incident updates" in subject
    assert "down on db1" in parts["text/plain"] and "down on web1" in parts["text/plain"]
    assert "<h3>" in parts["text/html"]
    assert {r["state"] for r in await notify.outbox("mail")} == {"delivered"}


async def test_group_wait_holds_and_group_interval_spaces_notifications(
    make_notify: Any, hook_server: Any
) -> None:
    """A new group waits group_wait; a change after a send waits until group_interval since that send."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}],
            "route": {"group_wait": "30s", "group_interval": "5m"},
        }
    )
    await notify.send(alert("db1"))
    await notify.pump(1)
    assert hook.received == []
    await notify.clock.advance(31)
    await notify.pump(1)
    assert len(hook.received) == 1
    await notify.send(alert("db1", firing=False))
    await notify.clock.advance(60)
    await notify.pump(1)
    assert len(hook.received) == 1
    await notify.clock.advance(241)
    await notify.pump(1)
    assert [d["event"]["kind"] for d in hook.received] == ["opened", "resolved"]


async def test_repeat_interval_notifies_an_open_incident_again(
    make_notify: Any, hook_server: Any
) -> None:
    """An unacknowledged firing incident is notified again after repeat_interval, and not before."""
    hook: Hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}],
            "route": {"repeat_interval": "1h"},
            "notify": {"repeat_check_interval": "1m"},
        }
    )
    await notify.send(alert("db1"))
    await notify.pump(1)
    await notify.clock.advance(1800)
    await notify.pump(2)
    assert len(hook.received) == 1
    await notify.clock.advance(1801)
    await notify.pump(2)
    assert [d["event"]["kind"] for d in hook.received] == ["opened", "repeated"]


async def test_routes_pick_receivers_by_matchers_with_continue(
    make_notify: Any, hook_server: Any
) -> None:
    """A critical db alert goes to the db route and, through continue, to the catch-all; a web alert only to the default."""
    db = await hook_server(ok())
    other = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "incidents": {"group_by": ["item", "alertname", "team"]},
            "receivers": [
                {"name": "db", "kind": "webhook", "url": db.url},
                {"name": "other", "kind": "webhook", "url": other.url},
            ],
            "route": {
                "receivers": ["other"],
                "routes": [
                    {
                        "matchers": ['team="db"', 'severity="critical"'],
                        "receivers": ["db"],
                        "continue": True,
                    },
                    {"matchers": ['item=~"db.*"'], "receivers": ["other"]},
                ],
            },
        }
    )
    await notify.send(alert("db1", team="db"), alert("web1", team="web"))
    await notify.pump(2)
    assert [d["incident"]["item"] for d in db.received] == ["db1"]
    assert sorted(d["incident"]["item"] for d in other.received) == ["db1", "web1"]


async def test_routes_match_alert_labels_that_are_not_group_labels(
    make_notify: Any, hook_server: Any
) -> None:
    """A route on team="db" gets the incidents whose alerts carry team="db" (opened and resolved, with its own group_wait) though incidents group by item only, and continue lets the critical route match as well."""
    db = await hook_server(ok())
    oncall = await hook_server(ok())
    other = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "incidents": {"group_by": ["item"]},
            "receivers": [
                {"name": "db", "kind": "webhook", "url": db.url},
                {"name": "oncall", "kind": "webhook", "url": oncall.url},
                {"name": "other", "kind": "webhook", "url": other.url},
            ],
            "route": {
                "receivers": ["other"],
                "routes": [
                    {
                        "matchers": ['team="db"'],
                        "receivers": ["db"],
                        "continue": True,
                        "group_wait": "1m",
                    },
                    {"matchers": ['severity="critical"'], "receivers": ["oncall"]},
                ],
            },
        }
    )
    # db1's incident holds a db-team alert and one without a team: any alert routes it.
    await notify.send(alert("db1", "disk", team="db"), alert("db1"), alert("web1", team="web"))
    await notify.pump(2)
    assert db.received == []  # the db route's group_wait holds it
    await notify.clock.advance(61)
    await notify.pump(2)
    await notify.send(alert("db1", "disk", firing=False, team="db"), alert("db1", firing=False))
    await notify.pump(2)
    assert [(d["incident"]["item"], d["event"]["kind"]) for d in db.received] == [
        ("db1", "opened"),
        ("db1", "resolved"),
    ]
    assert sorted((d["incident"]["item"], d["event"]["kind"]) for d in oncall.received) == [
        ("db1", "opened"),
        ("db1", "resolved"),
        ("web1", "opened"),
    ]
    assert other.received == []


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ("on db&lt;1&gt;", "Incident 1 is open", "Acknowledge")),
        ("zh_CN", ("（对象 db&lt;1&gt;）", "事件 1 状态：open", "确认")),
    ],
)
async def test_chat_message_is_readable_and_shaped_per_flavor(
    make_notify: Any, hook_server: Any, tmp_path: Path, locale: str, words: tuple[str, ...]
) -> None:
    """Slack gets text with severity, item (escaped), state and an ack link, Teams a
    MessageCard with an Acknowledge action, both in `[daemon] locale` (en or zh_CN)."""
    item, state, ack = words
    slack = await hook_server(ok())
    teams = await hook_server(ok())
    notify: Notify = await make_notify(
        {
            "daemon": {"locale": locale},
            "receivers": [
                {"name": "slack", "kind": "chat", "url": slack.url},
                {"name": "teams", "kind": "chat", "url": teams.url, "flavor": "teams"},
            ],
            "notify": ack_links(tmp_path),
        }
    )
    await notify.send(alert("db<1>"))
    await notify.pump(1)
    (msg,) = slack.received
    assert "[critical] down" in msg["text"] and item in msg["text"] and state in msg["text"]
    assert f"|{ack}>" in msg["text"] and "/ack/" in msg["text"]
    (card,) = teams.received
    assert card["@type"] == "MessageCard"
    assert card["potentialAction"][0]["name"] == ack


async def test_a_template_that_raises_falls_back_to_the_default_and_says_so(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """A chat template that fails at render time is replaced by the default; the message is sent and the error is in the delivery log."""
    (tmp_path / "bad.j2").write_text("{{ 1 // 0 }}")
    hook = await hook_server(ok())
    notify: Notify = await make_notify(
        {"receivers": [{"name": "chat", "kind": "chat", "url": hook.url, "template": "bad.j2"}]}
    )
    await notify.send(alert("db1"))
    await notify.pump(1)
    (msg,) = hook.received
    assert "down" in msg["text"]
    (entry,) = await notify.deliveries("chat")
    assert entry["status"] == "delivered"
    assert "ZeroDivisionError" in entry["error"] and "default used" in entry["error"]


async def test_exec_gets_the_incident_in_a_restricted_environment(
    make_notify: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The command sees WATCHD_* variables and configured env but not watchd's own environment; its exit status and output reach the timeline."""
    monkeypatch.setenv("WATCHD_TEST_SECRET", "leak")
    script = tmp_path / "remediate.py"
    script.write_text(
        "import os, sys, json\n"
        "doc = json.load(sys.stdin)\n"
        "print(os.environ['WATCHD_INCIDENT_ITEM'], os.environ['WATCHD_KIND'], os.environ.get('TEAM'),"
        " os.environ.get('WATCHD_TEST_SECRET'), doc['incident']['id'])\n"
    )
    notify: Notify = await make_notify(
        {
            "receivers": [
                {
                    "name": "fix",
                    "kind": "exec",
                    "command": [sys.executable, str(script)],
                    "env": {"TEAM": "db"},
                }
            ]
        }
    )
    await notify.send(alert("db1"))
    await notify.pump(1)
    (entry,) = await notify.deliveries("fix")
    assert entry["status"] == "delivered"
    assert entry["response"].strip() == "db1 opened db None 1"
    delivered = [d for k, d in await notify.timeline(1) if k == "delivered"]
    assert delivered[0]["exit_status"] == 0 and "db1 opened" in delivered[0]["output"]


async def test_exec_timeout_kills_the_process_group(make_notify: Any, tmp_path: Path) -> None:
    """A command that outlives its timeout is killed with its children and the attempt is retried."""
    marker = tmp_path / "child.pid"
    script = tmp_path / "hang.sh"
    script.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {marker}\nwait\n")
    script.chmod(0o755)
    notify: Notify = await make_notify(
        {
            "receivers": [
                {"name": "fix", "kind": "exec", "command": [str(script)], "timeout": "500ms"}
            ]
        }
    )
    await notify.send(alert("db1"))
    await notify.pump(1)
    (entry,) = await notify.deliveries("fix")
    assert entry["status"] == "retry" and "killed" in entry["error"]
    child = int(marker.read_text())
    for _ in range(50):
        if _gone(child):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the command's child process survived the timeout")


def bus(broker: Broker, **extra: str) -> dict[str, Any]:
    """The config of an mqtt receiver named "bus" publishing to ops/events on `broker`."""
    receiver = {"name": "bus", "kind": "mqtt", "host": "127.0.0.1", "topic": "ops/events"}
    return {"receivers": [{**receiver, "port": broker.port, **extra}]}


@pytest.mark.integration
async def test_mqtt_publishes_events_with_qos1_and_a_retained_state(
    make_notify: Any, broker: Broker
) -> None:
    """Each incident event is published to the topic, and the incident's state is retained on its own topic."""
    notify: Notify = await make_notify(bus(broker, state_topic="ops/incidents/{id}"))
    await notify.send(alert("db1"))
    await notify.pump(1)
    assert {r["state"] for r in await notify.outbox("bus")} == {"delivered"}
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "ops/incidents/1", "-C", "1", "-W", "5",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert json.loads(out)["state"] == "open"


@pytest.mark.integration
async def test_mqtt_keeps_one_connection_and_reconnects_after_a_broker_restart(
    make_notify: Any, broker: Broker, tmp_path: Path
) -> None:
    """Pages go out over one connection; after the broker restarts, the next page reconnects."""
    notify: Notify = await make_notify(bus(broker, backoff_initial="1s"))
    for item in ("db1", "db2", "db3"):
        await notify.send(alert(item))
        await notify.pump(1)
    assert [r["state"] for r in await notify.outbox("bus")] == ["delivered"] * 3
    log = tmp_path / "mosquitto.log"
    assert log.read_text().count("New client connected") == 1
    broker.stop()
    broker.start()
    await notify.send(alert("db4"))
    for _ in range(20):
        await notify.pump(1)
        if {r["state"] for r in await notify.outbox("bus")} == {"delivered"}:
            break
        await notify.clock.advance(2)
    assert [r["state"] for r in await notify.outbox("bus")] == ["delivered"] * 4


@pytest.mark.integration
async def test_mqtt_a_broker_gone_between_pages_leaves_no_unread_error(
    broker: Broker, tmp_path: Path
) -> None:
    """When the broker goes away while the connection is idle, closing the receiver reads the
    connection's error: asyncio reports no "Future exception was never retrieved"."""
    async with unretrieved_errors() as reported:
        config = MqttReceiver(name="bus", kind="mqtt", host="127.0.0.1", port=broker.port)
        receiver = Mqtt(config, ReceiverEnv(clock=FakeClock(), base=tmp_path, engine=None))
        note = Notification(1, 1, 1, "1:1", "bus", "opened", {"incident": {"id": 1}}, 1)
        assert (await receiver.deliver([note])).ok
        client = receiver._connected
        assert client is not None
        broker.stop()
        async with asyncio.timeout(10):
            while not client._disconnected.done():  # noqa: ASYNC110 (aiomqtt's own future)
                await asyncio.sleep(0.01)
        await receiver.aclose()
        del client, receiver
    assert reported == []


async def test_a_zh_cn_daemon_mails_its_pages_in_chinese(make_notify: Any, tmp_path: Path) -> None:
    """With `[daemon] locale = "zh_CN"` the default mail's subject, text and HTML are Chinese,
    with the incident's own values (title, item, links) as they are."""
    port = free_port()
    notify: Notify = await make_notify(
        {
            "daemon": {"locale": "zh_CN"},
            "receivers": [mail_receiver(port)],
            "route": {"group_by": ["severity"], "group_wait": "0s"},
            "notify": ack_links(tmp_path),
        }
    )
    await notify.send(alert("db1"), alert("web1"))
    _, subject, parts = await one_mail(notify, port)
    assert subject == "[watchd] 2 条事件更新"
    text, html = parts["text/plain"], parts["text/html"]
    assert "对象： db1" in text and "摘要： down on db1" in text and "发生时间：" in text
    assert "确认： http://127.0.0.1:9797/ack/" in text and "Acknowledge" not in text
    assert "对象 db1" in html and ">确认</a>" in html and "opened" not in html


async def test_a_reload_to_another_locale_rebuilds_the_receivers(
    make_notify: Any, tmp_path: Path
) -> None:
    """Changing only `[daemon] locale` and reloading switches the mails' language: the
    unchanged receiver is rebuilt, not kept speaking the old language."""
    port = free_port()
    raw = {"receivers": [mail_receiver(port)], "route": {"group_wait": "0s"}}
    notify: Notify = await make_notify(raw)
    chinese = parse_config({**raw, "daemon": {"locale": "zh_CN"}}, tmp_path / "config.toml")
    notify.dispatcher.reconfigure(
        chinese.receivers, chinese.notify, notify.router, notify.settings, "zh_CN"
    )
    await notify.send(alert("db1"))
    _, subject, parts = await one_mail(notify, port)
    assert subject == "[watchd] [CRITICAL] opened: down on db1"  # titles and kinds stay
    assert "对象： db1" in parts["text/plain"] and "Item:" not in parts["text/plain"]
