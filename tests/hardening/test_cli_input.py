"""Issue 19, findings 8 and 9 on the command line: `watchd silence/change/ack/comment/incident`
refuse times past year 9999, ids no database holds and text that is not UTF-8 with a one-line
error, end changes however far their stored end is, and show rows stored out of range."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from tests.incidents.test_cli import config, run
from watchd.clock import SystemClock
from watchd.store import Store
from watchd.store.engine import write_transaction
from watchd.store.incident_tables import changes, incident_events

__all__ = ["config"]  # the fixture, used by name


def store_rows(tmp_path: Path, *statements: object) -> None:
    """Run `statements` on the config's store directly, as an older watchd wrote rows."""

    async def write() -> None:
        store = await Store.open(f"sqlite:///{tmp_path}/state/watchd.db", clock=SystemClock())
        async with write_transaction(store.engine) as conn:
            for statement in statements:
                await conn.execute(statement)  # type: ignore[call-overload]
        await store.close()

    asyncio.run(write())


def test_change_end_ends_a_change_stored_with_an_end_at_1e300(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd change end 1` ends a change an older watchd stored ending at 1e300; an unknown
    id exits 1, an id that is no number 2."""
    now = SystemClock().now()
    row = {"item": "db1", "summary": "forever", "ticket": "", "created_by": "old"}
    store_rows(
        tmp_path,
        insert(changes).values(id=1, starts_at=now - 60, ends_at=1e300, created_at=now, **row),
    )
    assert run(config, "change", "end", "1") == 0
    assert "change 1 ended" in capsys.readouterr().out
    assert run(config, "change", "end", "1") == 1
    assert run(config, "change", "end", "²") == 2
    assert "expected an id" in capsys.readouterr().out
    assert run(config, "change", "end", "1".rjust(24, "0")) == 1  # the same change, ended
    assert "no running or pending change" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ("change", "add", "db1", "patch", "--end", "9999-12-31T23:59:59-23:59"),
        ("change", "add", "db1", "patch", "--start", "1960-01-01T00:00:00Z"),
        ("change", "add", "db1", "patch", "--duration", "9" * 400 + "s"),
        ("silence", "add", 'item="db1"', "--duration", "9" * 400 + "s"),
        ("silence", "add", 'item="db1"', "--duration", "400000000d"),
    ],
)
def test_times_past_year_9999_are_refused_naming_the_field(
    config: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """A change or silence that would start or end outside 1970..9999 exits 1 with an error
    naming starts_at/ends_at (and stores no silence)."""
    assert run(config, *argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: ") and "9999-12-31" in out
    assert "starts_at" in out or "ends_at" in out
    if argv[0] == "silence":
        assert run(config, "silence", "list") == 0
        assert "no silences" in capsys.readouterr().out


def test_an_id_of_26_digits_is_an_argument_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd ack 12345678901234567890123456` is a usage error (exit 2), not a traceback."""
    with pytest.raises(SystemExit) as stopped:
        run(config, "ack", "12345678901234567890123456")
    assert stopped.value.code == 2
    assert "expected an id" in capsys.readouterr().err


def test_text_that_is_not_utf8_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A comment from bytes that are not UTF-8 (a lone surrogate in argv) exits 2 naming the
    argument, and the incident's timeline does not get it."""
    assert run(config, "comment", "1", "broken \udc80 byte") == 2
    assert "text" in capsys.readouterr().out
    assert run(config, "incident", "1") == 0
    assert "broken" not in capsys.readouterr().out


def test_incident_shows_timeline_times_stored_out_of_range(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`watchd incident 1` prints a timeline whose times were stored as 1e13 and Infinity."""
    store_rows(tmp_path, update(incident_events).values(time=1e13))
    store_rows(
        tmp_path, update(incident_events).where(incident_events.c.seq == 1).values(time=math.inf)
    )
    assert run(config, "incident", "1") == 0
    assert "9999-12-31 23:59:59Z (stored as inf)" in capsys.readouterr().out
