"""Runbooks in notifications: the runbook_url of an incident's alerts (a rule's or a check's,
or a sender's) reaches the email (a real aiosmtpd server), chat messages and webhook payloads."""

from __future__ import annotations

import email.message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.notify.conftest import Notify, alert, ok
from tests.notify.test_receivers import Inbox, free_port, mail_receiver
from watchd.checks import CheckState
from watchd.loading import build_setup
from watchd.model import Alert, Status
from watchd.results import check_alert

RUNBOOK = "https://wiki.example/runbooks/db-down"


def _parts(msg: email.message.Message) -> dict[str, str]:
    return {
        p.get_content_type(): p.get_payload(decode=True).decode().replace("\r\n", "\n")
        for p in msg.walk()
        if not p.is_multipart()
    }


def _check_alert(notify: Notify, tmp_path: Path) -> Alert:
    """The alert of a failing check whose config names runbooks/web.md, as the daemon makes it."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "web.md").write_text("# Web down\n")
    setup = build_setup(notify.config, tmp_path / "config.toml")
    ((check, _),) = setup.collectors
    return check_alert(check, Status.CRITICAL, True, CheckState(), notify.clock.now())


@pytest.mark.integration
async def test_runbooks_reach_the_email_and_the_webhook(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """The on-call engineer's mail links each runbook of the incident once, and a webhook or ticket system gets runbook_url in each alert's annotations."""
    port = free_port()
    hook = await hook_server(ok())
    item = {
        "name": "web1",
        "address": "127.0.0.1",
        "checks": [{"name": "http", "kind": "tcp", "port": 80, "runbook": "runbooks/web.md"}],
    }
    notify: Notify = await make_notify(
        {
            "items": [item],
            "receivers": [
                mail_receiver(port),
                {"name": "hook", "kind": "webhook", "url": hook.url},
            ],
            "route": {"group_by": ["item"]},
        }
    )
    from_check = _check_alert(notify, tmp_path)
    sender = alert("db1", "db_down")
    sent = Alert(
        labels=sender.labels,
        status=sender.status,
        starts_at=sender.starts_at,
        annotations={**sender.annotations, "runbook_url": RUNBOOK},
    )
    unsafe = alert("db2", "db_down")
    unsafe = Alert(
        labels=unsafe.labels,
        status=unsafe.status,
        starts_at=unsafe.starts_at,
        annotations={"runbook_url": "javascript:alert(1)"},
    )
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await notify.send(from_check, sent, unsafe)
        await notify.pump(3)
    finally:
        controller.stop()
    daemon_link = "http://127.0.0.1:9797/runbooks/runbooks/web"
    texts = [_parts(msg) for msg in inbox.messages]
    assert len(texts) == 3, [m["Subject"] for m in inbox.messages]
    check_mail, db_mail, unsafe_mail = (
        next(t for t in texts if f"Item: {item}" in t["text/plain"])
        for item in ("web1", "db1", "db2")
    )
    assert f"Runbook: {daemon_link}\n" in check_mail["text/plain"]
    assert f'<a href="{daemon_link}">Runbook</a>' in check_mail["text/html"]
    assert db_mail["text/plain"].count(f"Runbook: {RUNBOOK}\n") == 1
    assert "Runbook" not in unsafe_mail["text/plain"] + unsafe_mail["text/html"]
    by_item = {
        a["labels"]["item"]: a["annotations"].get("runbook_url")
        for payload in hook.received
        for a in payload["alerts"]
    }
    assert by_item == {"web1": daemon_link, "db1": RUNBOOK, "db2": "javascript:alert(1)"}


async def test_a_chat_message_links_the_runbook(make_notify: Any, hook_server: Any) -> None:
    """A Slack message carries a Runbook link beside the incident's details."""
    slack = await hook_server(ok())
    notify: Notify = await make_notify(
        {"receivers": [{"name": "slack", "kind": "chat", "url": slack.url}]}
    )
    sender = alert("db1")
    await notify.send(
        Alert(
            labels=sender.labels,
            status=sender.status,
            starts_at=sender.starts_at,
            annotations={"summary": "db1 down", "runbook_url": RUNBOOK},
        )
    )
    await notify.pump(1)
    (msg,) = slack.received
    assert f"<{RUNBOOK}|Runbook>" in msg["text"]
