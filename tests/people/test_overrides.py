"""Stored on-call overrides on SQLite and on a real PostgreSQL: add, list, delete, the ones
overlapping a range, and the checks that keep a bad override out of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from watchd.clock import FakeClock
from watchd.people.config import PeopleConfig
from watchd.people.oncall import on_call
from watchd.people.overrides import (
    OverrideError,
    active_overrides,
    add_override,
    check_override,
    delete_override,
    list_overrides,
)
from watchd.store import Store
from watchd.store.pages import Page

pytestmark = pytest.mark.integration

PEOPLE = PeopleConfig.model_validate(
    {
        "users": [{"name": "alice"}, {"name": "bob"}],
        "schedules": [
            {
                "name": "primary",
                "layers": [
                    {"name": "d", "users": ["alice"], "start": "2026-11-01T09:00", "rotation": "1d"}
                ],
            }
        ],
    }
)
DAY = 86400.0
T0 = 1_796_112_000.0  # 2026-12-01T08:00Z


@pytest.fixture
async def store(fresh_db_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(fresh_db_url, clock=FakeClock())
    yield opened
    await opened.close()


async def test_an_override_is_stored_listed_and_takes_the_shift(store: Store) -> None:
    """An added override comes back with its author and reason, overlaps the right ranges,
    puts its user on call, and is gone once deleted."""
    async with store.engine.begin() as conn:
        added = await add_override(
            conn,
            schedule="primary",
            user="bob",
            start=T0,
            end=T0 + 3600,
            author="carol",
            reason="alice at the dentist",
            now=T0 - DAY,
        )
        await add_override(
            conn, schedule="other", user="bob", start=T0, end=T0 + 60, author="x", reason="y", now=0
        )
    assert added.id > 0 and (added.author, added.reason) == ("carol", "alice at the dentist")
    async with store.engine.connect() as conn:
        assert await active_overrides(conn, "primary", T0 + 3599, T0 + 7200) == [added]
        assert await active_overrides(conn, "primary", T0 + 3600, T0 + 7200) == []
        assert len(await active_overrides(conn, None, T0, T0 + 1)) == 2
        assert (await list_overrides(conn, "primary", since=T0 + 3600)).items == []
        assert (await list_overrides(conn, "primary")).items == [added]
        first = await list_overrides(conn, None, page=Page(limit=1))
        assert (len(first.items), first.total) == (1, 2)
        overrides = await active_overrides(conn, "primary", T0, T0 + 1)
    schedule = PEOPLE.schedule("primary")
    assert schedule is not None
    assert on_call(schedule, T0 + 10, overrides) == ("bob",)
    assert on_call(schedule, T0 + 3600, overrides) == ("alice",)
    async with store.engine.begin() as conn:
        assert await delete_override(conn, "other", added.id) is None  # not that schedule's
        assert await delete_override(conn, "primary", added.id) == added
        assert await delete_override(conn, "primary", added.id) is None
        assert (await list_overrides(conn, "primary")).total == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule": "nope"}, "schedule"),
        ({"user": "mallory"}, "user"),
        ({"end": T0}, "end"),
        ({"end": T0 + 400 * DAY}, "end"),
        ({"start": float("nan")}, "start"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 1001}, "reason"),
        ({"author": ""}, "author"),
    ],
)
def test_a_bad_override_is_refused_naming_its_field(change: dict[str, object], field: str) -> None:
    """An unknown schedule or user, an empty or huge range, no reason or no author is refused
    with the field at fault."""
    fields: dict[str, object] = {
        "schedule": "primary",
        "user": "bob",
        "start": T0,
        "end": T0 + 3600,
        "author": "carol",
        "reason": "swap",
    }
    with pytest.raises(OverrideError) as caught:
        check_override(PEOPLE, **(fields | change))  # type: ignore[arg-type]
    assert caught.value.field == field
