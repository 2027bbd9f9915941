"""watchd_notifications_total and the outbox backlog gauges, on the real dispatcher, store and
loopback receivers."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.notify.conftest import Notify, alert, ok
from tests.notify.test_dispatcher import webhook
from watchd.notify.outbox import backlog
from watchd.store.committed import on_commit


async def scraped(notify: Notify) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    await notify.metrics.refresh()
    body, _ = notify.metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def sent(found: dict[Any, float], receiver: str, outcome: str) -> float | None:
    key = frozenset({("receiver", receiver), ("outcome", outcome)})
    return found.get(("watchd_notifications_total", key))


async def test_each_rows_outcome_is_counted_by_receiver(make_notify: Any, hook_server: Any) -> None:
    """A 500 then 200s counts one retried and the rest delivered; a 400 counts failed."""

    async def flaky(request: web.Request, n: int) -> web.Response | None:
        return web.Response(status=500) if n == 0 else None

    async def refusing(request: web.Request, n: int) -> web.Response:
        return web.Response(status=400, text="bad payload")

    good, bad = await hook_server(flaky), await hook_server(refusing)
    notify = await make_notify(
        {"receivers": [webhook("hook", good.url), webhook("strict", bad.url)]}
    )
    await notify.send(alert("db1"))
    await notify.send(alert("db1", firing=False))
    for _ in range(10):
        await notify.pump(1)
        await notify.clock.advance(30)
    found = await scraped(notify)
    assert sent(found, "hook", "retried") == 1
    assert sent(found, "hook", "delivered") == 2
    assert sent(found, "strict", "failed") == 2
    # Each attempt's answer time, by receiver: 3 calls to hook, 2 to strict.
    timed = ("watchd_notification_send_seconds_count", frozenset({("receiver", "hook")}))
    assert found[timed] == 3


async def test_the_backlog_shows_undelivered_rows_their_age_and_how_late_the_due_one_is(
    make_notify: Any, hook_server: Any
) -> None:
    """Rows not yet sent count as pending, with the oldest's age and how long it has been
    due; once delivered the backlog is empty."""

    async def answer(request: web.Request, n: int) -> None:
        return None

    hook = await hook_server(answer)
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    await notify.send(alert("db1"), alert("web1"))
    await notify.clock.advance(45)
    figures = await backlog(notify.store.engine, notify.clock.now())
    assert figures.pending == 2
    assert 44 <= figures.oldest_age <= 46
    assert 0 < figures.oldest_due <= figures.oldest_age
    notify.metrics.flow.watch_outbox(lambda: backlog(notify.store.engine, notify.clock.now()))
    found = await scraped(notify)
    assert found[("watchd_outbox_pending", frozenset())] == 2
    await notify.pump(3)
    figures = await backlog(notify.store.engine, notify.clock.now())
    assert (figures.pending, figures.oldest_age, figures.oldest_due) == (0, 0.0, 0.0)


async def test_incidents_opened_and_resolved_are_counted_once_committed(
    make_notify: Any, hook_server: Any
) -> None:
    """An alert that fires opens an incident and its resolution resolves it: one each in
    watchd_incidents_total; a repeat of the firing alert counts nothing."""
    hook = await hook_server(ok())
    notify = await make_notify({"receivers": [webhook("hook", hook.url)]})
    on_commit(notify.store.engine, notify.metrics.flow.count_incidents)
    await notify.send(alert("db1"))
    await notify.send(alert("db1"))
    found = await scraped(notify)
    assert found[("watchd_incidents_total", frozenset({("event", "opened")}))] == 1
    await notify.send(alert("db1", firing=False))
    found = await scraped(notify)
    assert found[("watchd_incidents_total", frozenset({("event", "resolved")}))] == 1
