"""Hand-off notices: the person a shift brings on call gets one notice through their webhook
contact (an SMS gateway on loopback here), stored first, retried with backoff, never twice."""

from __future__ import annotations

import random
from typing import Any

from aiohttp import web

from tests.notify.conftest import Hook, Notify, ok, settle
from watchd.notify.handoffs import HandoffNotices
from watchd.store.oncall_tables import handoff_notices

HOUR = 3600.0
HANDOFF = 1_800_003_600.0  # 2027-01-15T09:00Z: bob takes over from alice (FakeClock starts 08:00)


def config(url: str, *, notify_handoff: bool = True, bob_contacts: Any = None) -> dict[str, Any]:
    """A daily 09:00 UTC rotation of alice and bob; bob's SMS goes through a webhook gateway."""
    contacts = bob_contacts or [
        {"name": "mail", "receiver": "mail", "address": "bob@example.org"},
        {"name": "sms", "receiver": "gateway", "address": "+8613800000002"},
    ]
    return {
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
        ],
        "route": {"receivers": ["log"]},
        "users": [
            {"name": "alice"},
            {
                "name": "bob",
                "display_name": "Bob Wu",
                "timezone": "Asia/Shanghai",
                "contacts": contacts,
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
        rand=random.Random(1),
    )


async def run(job: HandoffNotices) -> None:
    await job.run()
    await settle()


async def test_the_incoming_person_gets_one_notice_through_their_gateway(
    make_notify: Any, hook_server: Any
) -> None:
    """At 09:00 bob gets exactly one SMS-gateway request saying, in his time zone, that he is on call until the next 09:00; later runs and a restarted job send no more."""
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


async def test_a_person_without_a_webhook_contact_is_recorded_unreachable(
    make_notify: Any, hook_server: Any
) -> None:
    """bob with only an email contact gets no request; his hand-off is stored as failed, saying why, once."""
    hook: Hook = await hook_server(ok())
    mail_only = [{"name": "mail", "receiver": "mail", "address": "bob@example.org"}]
    notify: Notify = await make_notify(config(hook.url, bob_contacts=mail_only))
    job = notices(notify)
    notify.clock.step(HOUR)
    await run(job)
    await run(job)
    assert hook.received == []
    rows = await notify.rows(handoff_notices.select())
    assert [(r["state"], r["error"]) for r in rows] == [
        ("failed", "bob has no contact through a webhook")
    ]


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
