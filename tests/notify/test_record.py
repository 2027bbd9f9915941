"""Writing delivery outcomes (watchd.notify.record): a batch of any size in the same few
set-wise statements, on SQLite and PostgreSQL, with the outbox rows, the delivery log and the
incidents' timelines as each outcome says."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.notify.conftest import Notify, alert
from tests.notify.test_dispatcher import webhook
from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)
from watchd.notify import outbox
from watchd.notify.attempt import judge
from watchd.notify.model import Outcome
from watchd.notify.record import Recorder
from watchd.store.incident_tables import incident_events, incidents


@pytest.fixture(params=["sqlite", "postgresql"])
def notify_db(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The store of each test: a SQLite file, then the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/watchd.db"
    request.applymarker(pytest.mark.integration)
    url: str = request.getfixturevalue("pg_url")
    return url


async def _record(notify: Notify, count: int, first: int) -> list[tuple[str, bool]]:
    """Open `count` incidents, claim their rows and record them in one batch, every third
    retried (503) and the rest delivered; the (SQL text, executemany) of each statement."""
    engine = notify.store.engine
    await notify.send(*(alert(f"host{first + n}") for n in range(count)))
    now = notify.clock.now()
    untried = [r for r in await outbox.open_rows(engine) if r.attempts == 0]
    rows = await outbox.claim(engine, untried, now, now + 60)
    assert len(rows) == count
    config = notify.dispatcher.installed.configs["hook"]
    attempts = [
        judge(
            row,
            Outcome(False, status=503, error="HTTP 503")
            if n % 3 == 0
            else Outcome(True, status=200),
            config,
            started_at=now,
            latency=0.01,
            now=now,
            skipped=False,
            rand=random.Random(1),
        )
        for n, row in enumerate(rows)
    ]
    seen: list[tuple[str, bool]] = []

    def statement(_conn: Any, _cursor: Any, sql: str, _p: Any, _c: Any, many: bool) -> None:
        seen.append((sql, many))

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    try:
        await Recorder(engine, lambda: notify.settings).submit(attempts, now=now)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
    return seen


async def test_a_batch_of_outcomes_is_written_in_the_same_statements_whatever_its_size(
    make_notify: Callable[[dict[str, Any]], Any],
) -> None:
    """1, 5 and 30 outcomes are written with the same SQL texts, no UPDATE once per row
    (executemany): the outbox rows' states and the incidents' seqs are each one UPDATE, and
    the incidents are not read whole to append their "delivered" or "delivery_retrying" events."""
    notify: Notify = await make_notify({"receivers": [webhook("hook", "http://127.0.0.1:9/h")]})
    batches = [await _record(notify, count, first) for count, first in ((1, 0), (5, 1), (30, 6))]
    texts = [{sql for sql, _ in batch} for batch in batches]
    assert texts[1] == texts[2]  # (an INSERT of one row is written apart on PostgreSQL)
    updates = [
        {(sql, many) for sql, many in batch if sql.lstrip().startswith("UPDATE")}
        for batch in batches
    ]
    assert updates[0] == updates[1] == updates[2]
    assert len(updates[2]) == 2 and not any(many for _, many in updates[2])
    assert not any("group_labels" in sql for sql in texts[2])  # no incident read whole
    states = {r["state"] for r in await notify.outbox("hook")}
    assert states == {"delivered", "pending"}
    pending = [r for r in await notify.outbox("hook") if r["state"] == "pending"]
    assert len(pending) == 1 + 2 + 10 and {r["attempts"] for r in pending} == {1}
    assert all(r["last_error"] == "HTTP 503" for r in pending)


async def test_each_incident_gets_its_outcome_event_at_the_next_seq(
    make_notify: Callable[[dict[str, Any]], Any],
) -> None:
    """After a batch, every incident's seq is that of its last timeline event, the outcome's
    event numbered right after the events before it."""
    notify: Notify = await make_notify({"receivers": [webhook("hook", "http://127.0.0.1:9/h")]})
    await _record(notify, 8, 0)
    found = await notify.rows(select(incidents.c.id, incidents.c.seq))
    timeline = await notify.rows(
        select(incident_events.c.incident_id, incident_events.c.seq, incident_events.c.kind)
    )
    for incident in found:
        own = sorted((e["seq"], e["kind"]) for e in timeline if e["incident_id"] == incident["id"])
        assert [seq for seq, _ in own] == list(range(1, incident["seq"] + 1))
        assert own[-1][1] in ("delivered", "delivery_retrying")
