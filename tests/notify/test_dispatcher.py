"""The outbox dispatcher against real loopback webhook receivers, with a fake clock for time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests.notify.conftest import Hook, alert, ok
from watchd.model import AlertStatus
from watchd.notify.receivers.webhook import SIGNATURE_HEADER
from watchd.pipeline.timers import IncidentTimers
from watchd.store.tables import alerts


def webhook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "webhook", "url": url, "backoff_initial": "1s", **extra}


async def test_a_receiver_failing_with_500_gets_everything_in_order_once_it_recovers(
    make_notify: Any, hook_server: Any
) -> None:
    """A receiver answering 500 for a while then 200 receives every notification, once each, in order per incident."""

    async def flaky(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=500, text="busy") if n < 4 else None

    hook: Hook = await hook_server(flaky)
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    await notify.send(alert("db1"), alert("web1"))
    await notify.send(alert("db1", firing=False), alert("web1", firing=False))
    for _ in range(40):
        await notify.pump(1)
        await notify.clock.advance(30)
        if len(hook.unique) == 4:
            break
    rows = await notify.outbox("hook")
    assert [r["state"] for r in rows] == ["delivered"] * 4
    assert len(hook.unique) == 4
    order = [(d["incident"]["id"], d["event"]["seq"]) for d in hook.unique.values()]
    for incident in {i for i, _ in order}:
        seqs = [s for i, s in order if i == incident]
        assert seqs == sorted(seqs)
    kinds = {(d["incident"]["id"], d["event"]["kind"]) for d in hook.unique.values()}
    assert kinds == {(1, "opened"), (2, "opened"), (1, "resolved"), (2, "resolved")}
    log = await notify.deliveries("hook")
    assert [d["status"] for d in log if d["status"] != "delivered"] == ["retry"] * 4
    assert all(d["http_status"] in (500, 200) for d in log)


async def test_a_hanging_receiver_times_out_and_is_retried(
    make_notify: Any, hook_server: Any
) -> None:
    """A receiver that never answers costs one timeout per attempt, recorded, and the row is retried."""
    release = asyncio.Event()

    async def hang(request: web.Request, n: int) -> None:
        if n == 0:
            await asyncio.wait_for(release.wait(), 5)
        return None

    hook = await hook_server(hang)
    notify = await make_notify({"receivers": [webhook("hook", hook.url, timeout="300ms")]})
    await notify.send(alert())
    await notify.pump(1)
    release.set()
    (first,) = await notify.deliveries("hook")
    assert first["status"] == "retry"
    assert "timeout" in first["error"]
    assert (await notify.outbox("hook"))[0]["state"] == "pending"
    await notify.clock.advance(5)
    await notify.pump(1)
    assert (await notify.outbox("hook"))[0]["state"] == "delivered"


async def test_retry_after_from_a_429_is_honoured(make_notify: Any, hook_server: Any) -> None:
    """A 429 with Retry-After: 120 makes the next attempt wait 120 s, not the backoff."""

    async def limited(request: web.Request, n: int) -> web.Response | None:
        if n == 0:
            return web.Response(status=429, headers={"Retry-After": "120"})
        return None

    hook = await hook_server(limited)
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    await notify.send(alert())
    await notify.pump(1)
    (row,) = await notify.outbox("hook")
    assert row["next_attempt_at"] == notify.clock.now() + 120
    await notify.clock.advance(60)
    await notify.pump(1)
    assert len(hook.received) == 1
    await notify.clock.advance(61)
    await notify.pump(1)
    assert len(hook.received) == 2
    assert (await notify.outbox("hook"))[0]["state"] == "delivered"


async def test_a_closed_connection_is_retried(make_notify: Any, hook_server: Any) -> None:
    """A receiver that drops the connection without answering is retried and then delivered."""

    async def drop(request: web.Request, n: int) -> web.StreamResponse | None:
        if n == 0:
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("dropped by the test")
        return None

    hook = await hook_server(drop)
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    await notify.send(alert())
    await notify.pump(1)
    (first,) = await notify.deliveries("hook")
    assert first["status"] == "retry" and first["error"]
    await notify.clock.advance(5)
    await notify.pump(1)
    assert (await notify.outbox("hook"))[0]["state"] == "delivered"


async def test_a_4xx_is_not_retried_raises_a_self_alert_and_later_rows_still_go(
    make_notify: Any, hook_server: Any
) -> None:
    """A 400 is recorded failed and not retried; the next notification of the incident is still sent; a self-alert names the receiver."""

    async def reject_first(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=400, text="bad payload") if n == 0 else None

    hook = await hook_server(reject_first)
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    await notify.send(alert())
    await notify.send(alert(firing=False))
    await notify.pump(3)
    rows = await notify.outbox("hook")
    assert [r["state"] for r in rows] == ["failed", "delivered"]
    assert len(hook.received) == 2
    fired = [a for a in notify.sink.alerts if a.status.value == "firing"]
    assert fired and fired[0].labels["receiver"] == "hook"
    assert "notifications to hook failing since" in fired[0].annotations["summary"]
    assert notify.sink.alerts[-1].status.value == "resolved"
    kinds = [k for k, _ in await notify.timeline(1)]
    assert "delivery_failed" in kinds and "delivered" in kinds


async def test_rows_expire_after_max_age_with_a_self_alert(
    make_notify: Any, hook_server: Any
) -> None:
    """A receiver down longer than max_age gets its rows expired (counted in
    watchd_notifications_total) and a self-alert saying since when."""

    async def down(request: web.Request, n: int) -> web.Response:
        return web.Response(status=503)

    hook = await hook_server(down)
    notify = await make_notify(
        {"receivers": [webhook("hook", hook.url, max_age="10m", backoff_max="1m")]}
    )
    await notify.send(alert())
    for _ in range(30):
        await notify.pump(1)
        await notify.clock.advance(60)
    (row,) = await notify.outbox("hook")
    assert row["state"] == "expired"
    assert any(a.labels.get("alertname") == "NotificationsFailing" for a in notify.sink.alerts)
    assert "delivery_expired" in [k for k, _ in await notify.timeline(1)]
    counted = {
        (s.labels["outcome"], s.value)
        for f in text_string_to_metric_families(notify.metrics.render()[0].decode())
        if f.name == "watchd_notifications"
        for s in f.samples
    }
    assert ("expired", 1) in counted


async def test_notifications_failing_keeps_firing_while_the_receiver_stays_down(
    make_notify: Any, hook_server: Any
) -> None:
    """NotificationsFailing, raised when notifications to a receiver are given up on, stays
    firing however long the receiver stays down: it never resolves itself by timeout."""

    async def down(request: web.Request, n: int) -> web.Response:
        return web.Response(status=503)

    hook = await hook_server(down)
    notify = await make_notify(
        {
            "receivers": [webhook("hook", hook.url, max_age="10m", backoff_max="1m")],
            "incidents": {"resolve_timeout": "5m"},
        }
    )
    timers = IncidentTimers(notify.pipeline, clock=notify.clock)
    await notify.send(alert())
    raised = 0
    for _ in range(25):  # 25 minutes, the receiver down throughout
        await notify.pump(1)
        # the self-alerts go into the pipeline, as the BufferedSink hands them on
        await notify.send(*notify.sink.alerts[raised:])
        raised = len(notify.sink.alerts)
        await notify.clock.advance(60)
        await timers.tick()
    assert any(a.labels["alertname"] == "NotificationsFailing" for a in notify.sink.alerts)
    stored = await notify.rows(select(alerts.c.labels, alerts.c.status))
    states = [r["status"] for r in stored if r["labels"]["alertname"] == "NotificationsFailing"]
    assert states == ["firing"]


async def test_one_receiver_down_does_not_delay_another(make_notify: Any, hook_server: Any) -> None:
    """While one receiver hangs, the other receives its notifications at once."""
    release = asyncio.Event()

    async def hang(request: web.Request, n: int) -> None:
        await asyncio.wait_for(release.wait(), 5)

    slow = await hook_server(hang)
    fast = await hook_server(ok())
    notify = await make_notify(
        {"receivers": [webhook("slow", slow.url, timeout="3s"), webhook("fast", fast.url)]}
    )
    notify.dispatcher._loop = asyncio.get_running_loop()
    await notify.dispatcher._cycle()  # starts both deliveries without waiting for them
    await notify.send(alert("a"), alert("b"))
    await notify.dispatcher._cycle()
    for _ in range(100):
        if len(fast.unique) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(fast.unique) == 2
    assert slow.unique == {}
    release.set()
    await notify.pump(1)


async def test_webhook_headers_signature_auth_and_body(
    make_notify: Any, hook_server: Any, tmp_path: Path
) -> None:
    """The webhook carries an Idempotency-Key, a verifiable HMAC signature with a timestamp, bearer auth, custom headers and the AM v4 body plus the incident."""
    (tmp_path / "hmac.key").write_text("s3cret\n")
    (tmp_path / "token").write_text("tok-123\n")
    hook = await hook_server(ok())
    notify = await make_notify(
        {
            "receivers": [
                webhook(
                    "hook",
                    hook.url,
                    hmac_key={"file": "hmac.key"},
                    bearer_token={"file": str(tmp_path / "token")},
                    headers={"X-Team": "ops"},
                )
            ]
        }
    )
    await notify.send(alert())
    await notify.pump(1)
    (headers,) = hook.headers
    (doc,) = hook.received
    assert headers["Idempotency-Key"] == f"1:{doc['event']['seq']}" == doc["idempotencyKey"]
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["X-Team"] == "ops"
    stamp, mac = (p.split("=", 1)[1] for p in headers[SIGNATURE_HEADER].split(","))
    assert stamp == str(int(notify.clock.now()))
    raw = hook.raw[0]
    assert mac == hmac.new(b"s3cret", stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert doc["version"] == "4" and doc["status"] == "firing"
    assert doc["alerts"][0]["labels"]["alertname"] == "down"
    assert doc["incident"]["id"] == 1


async def test_notifications_failing_is_sent_again_with_its_end_ahead_and_lapses_if_watchd_stops(
    make_notify: Any, hook_server: Any
) -> None:
    """While a receiver stays down, NotificationsFailing is sent again every minute, each time
    with an end three minutes ahead; once nothing refreshes it (watchd stopped, or restarted with
    no memory of it), it resolves at that end instead of firing forever."""

    async def down(request: web.Request, n: int) -> web.Response:
        return web.Response(status=503)

    hook = await hook_server(down)
    notify = await make_notify(
        {"receivers": [webhook("hook", hook.url, max_age="10m", backoff_max="1m")]}
    )
    await notify.send(alert())
    for _ in range(20):  # 20 minutes, the receiver down throughout
        await notify.pump(1)
        await notify.clock.advance(60)
    failing = [a for a in notify.sink.alerts if a.labels["alertname"] == "NotificationsFailing"]
    assert len(failing) >= 5  # raised at about 10m, then again every minute
    assert all(a.status is AlertStatus.FIRING for a in failing)
    assert all(a.ends_at is not None and a.ends_at - a.starts_at > 0 for a in failing)
    last = failing[-1]
    assert last.ends_at is not None and 120 <= last.ends_at - notify.clock.now() <= 180
    # The last one in the pipeline, then nothing refreshes it: it resolves at its end.
    await notify.send(last)
    timers = IncidentTimers(notify.pipeline, clock=notify.clock)
    await notify.clock.advance(181)
    await timers.tick()
    stored = await notify.rows(select(alerts.c.labels, alerts.c.status))
    states = [r["status"] for r in stored if r["labels"]["alertname"] == "NotificationsFailing"]
    assert states == ["resolved"]
