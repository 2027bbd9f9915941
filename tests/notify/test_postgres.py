"""The dispatcher on PostgreSQL (claims with FOR UPDATE SKIP LOCKED, UPDATE ... RETURNING)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from tests.notify.conftest import Hook, Notify, alert
from tests.notify.test_handoffs import (
    test_the_incoming_person_gets_one_notice_through_their_gateway as the_incoming_person_gets_one_notice,
)
from tests.notify.test_storm import claimed_rows_hold_their_stored_text, deliver_storm
from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)

pytestmark = pytest.mark.integration


@pytest.fixture
def notify_db(pg_url: str) -> str:  # noqa: F811
    return pg_url


async def test_failing_then_recovering_receiver_on_postgresql(
    make_notify: Any, hook_server: Any
) -> None:
    """On PostgreSQL too, a receiver failing with 500 then recovering gets every notification once, in order, and two dispatchers never send a row twice."""

    async def flaky(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=500) if n < 2 else None

    hook: Hook = await hook_server(flaky)
    raw = {"receivers": [{"name": "hook", "kind": "webhook", "url": hook.url}]}
    one: Notify = await make_notify(raw)
    two: Notify = await make_notify(raw)
    await one.send(alert("db1"), alert("web1"))
    await one.send(alert("db1", firing=False))
    for _ in range(20):
        await one.pump(1)
        await two.pump(1)
        await one.clock.advance(30)
        if len(hook.unique) == 3:
            break
    assert len(hook.unique) == 3
    assert {r["state"] for r in await one.outbox("hook")} == {"delivered"}
    assert len(hook.received) == 2 + 3  # two 500s, then each notification exactly once


async def test_a_storm_backlog_goes_out_in_one_pass_on_postgresql(
    make_notify: Any, hook_server: Any
) -> None:
    """300 new incidents in one pass on PostgreSQL: once each, within the concurrency, every
    outcome recorded (a batch's incidents locked in one statement, in ascending id order)."""
    await deliver_storm(make_notify, hook_server)


async def test_claimed_rows_hold_their_documents_as_text_on_postgresql(make_notify: Any) -> None:
    """On PostgreSQL too, a claim reads each row's document as its JSON text."""
    await claimed_rows_hold_their_stored_text(make_notify)


async def test_a_hand_off_notice_goes_out_once_on_postgresql(
    make_notify: Any, hook_server: Any
) -> None:
    """On PostgreSQL too the incoming person gets exactly one notice however often the job runs (the insert that skips a stored hand-off)."""
    await the_incoming_person_gets_one_notice(make_notify, hook_server)
