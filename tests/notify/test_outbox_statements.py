"""The outbox's reads and writes keep SQLite's prepared statements bounded, however many rows.

SQLite keeps every distinct SQL text it was given in the connection's statement cache (128 of
them, each the size of its parameter list). A list rendered as one placeholder per value is a
new text for every length: as open incidents and rows in flight grew, the soak's connections
filled with ever larger statements (bench/README.md, "Soak").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from tests.notify.conftest import alert
from tests.notify.test_dispatcher import webhook
from watchd.incidents.ledger import Ledger, routing_alert_labels
from watchd.notify import outbox


async def test_the_dispatchers_statements_are_the_same_for_any_number_of_open_rows(
    make_notify: Callable[[dict[str, Any]], Any],
) -> None:
    """Scanning, claiming, renewing, releasing and reading the delivery log of 1 to 30 open
    rows sends SQLite the same few SQL texts: none is written per number of rows."""
    notify = await make_notify({"receivers": [webhook("hook", "http://127.0.0.1:9/hook")]})
    engine = notify.store.engine
    texts: dict[int, set[str]] = {}

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        texts.setdefault(count, set()).add(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    for count in range(1, 31):
        await notify.send(alert(f"host{count}"))
        rows = await outbox.open_rows(engine)
        assert len(rows) == count
        claimed = await outbox.claim(engine, rows, notify.clock.now(), notify.clock.now() + 60)
        assert len(claimed) == count
        await outbox.renew(engine, [r.id for r in claimed], notify.clock.now() + 120)
        await outbox.last_tried(engine, claimed)
        await outbox.load_groups(engine, [("hook", f"key{n}") for n in range(count)])
        async with engine.connect() as conn:
            labels = await routing_alert_labels(conn, {r.incident_id for r in rows})
        assert len(labels) == count
        assert await outbox.release(engine, [r.id for r in claimed]) == count
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert set().union(*(texts[n] for n in range(3, 31))) <= texts[2] | texts[1]


async def test_the_incidents_of_a_batch_are_read_with_one_statement_whatever_their_number(
    make_notify: Callable[[dict[str, Any]], Any],
) -> None:
    """Reading 1 to 30 incidents together (a batch of delivery outcomes, a storm's batch of
    alerts) on SQLite sends the same SQL text each time."""
    notify = await make_notify({"receivers": [webhook("hook", "http://127.0.0.1:9/hook")]})
    engine = notify.store.engine
    for n in range(30):
        await notify.send(alert(f"host{n}"))
    ids = sorted({r.incident_id for r in await outbox.open_rows(engine)})
    texts: set[str] = set()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        texts.add(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    for count in range(1, 31):
        async with engine.connect() as conn:
            ledger = Ledger(conn, notify.clock.now(), notify.settings)
            assert [i.id for i in await ledger.lock(ids[:count])] == ids[:count]
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert len({t for t in texts if "FROM incidents" in t}) == 1
