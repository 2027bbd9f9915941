"""Finding 10 of issue 19: a wall-clock step, a crash or a SIGTERM does not hold notifications
back; the dispatcher on a real SQLite store with a fake clock and loopback receivers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from tests.notify.conftest import Hook, Notify, alert, hook_server, make_notify, notify_db
from watchd.notify.delivery import GRACE

__all__ = ["hook_server", "make_notify", "notify_db"]  # fixtures used here


def hook_receiver(url: str, **extra: Any) -> dict[str, Any]:
    """The receiver "hook" at `url`, retrying after about a second."""
    return {"name": "hook", "kind": "webhook", "url": url, "backoff_initial": "1s", **extra}


async def _retried_across_a_step(make_notify: Any, hook_server: Any) -> tuple[Notify, Hook]:
    """A notification whose first attempt failed (retry due in about a second); then the wall
    clock steps back an hour and five seconds pass, the dispatcher scanning every second."""

    async def fail_first(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=500, text="busy") if n == 0 else None

    hook: Hook = await hook_server(fail_first)
    notify: Notify = await make_notify({"receivers": [hook_receiver(hook.url)]})
    await notify.send(alert())
    await notify.pump(1)
    (row,) = await notify.outbox("hook")
    assert row["state"] == "pending" and row["next_attempt_at"] <= notify.clock.now() + 1
    notify.clock.step(-3600)
    for _ in range(5):
        await notify.clock.advance(1)
        await notify.pump(1)
    return notify, hook


async def test_a_backward_clock_step_does_not_delay_a_pending_retry(
    make_notify: Any, hook_server: Any
) -> None:
    """A retry due in about a second still goes out within seconds when the wall clock steps back an hour."""
    notify, hook = await _retried_across_a_step(make_notify, hook_server)
    assert (await notify.outbox("hook"))[0]["state"] == "delivered"
    assert len(hook.received) == 2


async def test_a_receiver_recovering_after_a_clock_step_logs_no_negative_duration(
    make_notify: Any, hook_server: Any
) -> None:
    """The "receiver recovered" line says how long it failed as a duration that is never negative."""
    with capture_logs() as logs:
        await _retried_across_a_step(make_notify, hook_server)
    (recovered,) = [e for e in logs if e["event"] == "receiver_recovered"]
    assert 0 <= recovered["failing_for"] < 60


async def _in_flight(
    make_notify: Any,
    hook_server: Any,
    receiver_timeout: str,
    start: Callable[[Notify], Awaitable[Any]],
) -> tuple[Notify, asyncio.Event, asyncio.Task[Any]]:
    """A notification being delivered to a receiver that answers once `release` is set;
    `start` runs the dispatcher (a task, returned) until the receiver has the request."""
    release = asyncio.Event()

    async def hang(request: web.Request, n: int) -> None:
        if n == 0:
            await asyncio.wait_for(release.wait(), 20)
        return None

    hook: Hook = await hook_server(hang)
    notify = await make_notify({"receivers": [hook_receiver(hook.url, timeout=receiver_timeout)]})
    await notify.send(alert())
    task = asyncio.create_task(start(notify))
    for _ in range(100):
        if hook.received:
            break
        await asyncio.sleep(0.02)
    return notify, release, task


async def test_a_lease_is_sized_from_the_receiver_timeout(
    make_notify: Any, hook_server: Any
) -> None:
    """A notification in flight is leased for its receiver's timeout plus a margin, so after a crash it goes out again within a minute, not 3.5."""
    notify, release, pumping = await _in_flight(
        make_notify, hook_server, "10s", lambda n: n.pump(1)
    )
    (row,) = await notify.outbox("hook")
    assert row["state"] == "delivering"
    assert row["claimed_until"] - notify.clock.now() <= 10 + GRACE + 30
    release.set()
    await pumping


async def test_a_lease_is_renewed_while_the_delivery_runs(
    make_notify: Any, hook_server: Any
) -> None:
    """A slow delivery keeps its lease while it runs, so no other node sends it a second time."""
    notify, release, running = await _in_flight(
        make_notify, hook_server, "15s", lambda n: n.dispatcher.run()
    )
    for _ in range(30):  # 10 minutes, in steps the renewals (real writes) keep up with
        await notify.clock.advance(20)
        await asyncio.sleep(0.05)
    (row,) = await notify.outbox("hook")
    assert row["state"] == "delivering"
    assert row["claimed_until"] > notify.clock.now()
    release.set()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_stopping_gives_back_the_leases_of_deliveries_in_flight(
    make_notify: Any, hook_server: Any
) -> None:
    """On SIGTERM a notification still being delivered is released at once, so the next start sends it without waiting for the lease."""
    notify, release, running = await _in_flight(
        make_notify, hook_server, "10s", lambda n: n.dispatcher.run()
    )
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    release.set()
    (row,) = await notify.outbox("hook")
    assert row["state"] == "pending"
    assert row["claimed_until"] is None
