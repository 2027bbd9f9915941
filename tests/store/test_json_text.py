"""The store's JSON columns: written by pydantic-core's encoder, read back as json.dumps wrote them."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from watchd.clock import FakeClock
from watchd.store import Store, json_text
from watchd.store.json_text import dumps
from watchd.store.states import select_states, upsert_states

# What alerts, incidents and notifications carry: text from anywhere, nesting, numbers.
EVERYDAY: dict[str, Any] = {
    "labels": {"alertname": "Überlast", "item": "交换机-1", "emoji": "🔥", "quote": 'a"b\\c'},
    "alerts": [{"startsAt": "2026-11-30T04:00:00Z", "muted": None, "ok": True}],
    "numbers": [0, -1, 2**70, 0.1, 1e16, 1_700_000_000.25],
    "control": "tab\there\nnewline \x00 nul",
}


async def test_json_columns_keep_text_nesting_and_numbers(store: Store) -> None:
    """Values written to a JSON column read back equal, on SQLite and on PostgreSQL."""
    async with store.engine.begin() as conn:
        await upsert_states(conn, "test-json", {"k": EVERYDAY}, 1.0)
    async with store.engine.connect() as conn:
        assert (await select_states(conn, "test-json"))["k"] == EVERYDAY


async def test_json_columns_keep_what_only_json_dumps_writes(
    tmp_path: object, clock: FakeClock
) -> None:
    """NaN and Infinity (a rule's last value may be one) and a lone surrogate read back on
    SQLite as before: the last goes to json.dumps, which escapes it."""
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    try:
        odd = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "surrogate": "\ud800"}
        async with store.engine.begin() as conn:
            await upsert_states(conn, "test-json", {"k": odd}, 1.0)
        async with store.engine.connect() as conn:
            back = (await select_states(conn, "test-json"))["k"]
        assert math.isnan(back.pop("nan"))
        assert back == {"inf": math.inf, "-inf": -math.inf, "surrogate": "\ud800"}
    finally:
        await store.close()


def test_json_text_is_what_json_dumps_means() -> None:
    """The encoder's text decodes to json.dumps's value; what has no JSON form still fails."""
    assert json.loads(dumps(EVERYDAY)) == json.loads(json.dumps(EVERYDAY))
    if json_text._ENCODE is not None:  # pydantic-core writes NaN as json.dumps does
        assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'  # its form: the fast path
    with pytest.raises(TypeError):
        dumps({"a": object()})


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(EVERYDAY),
        dumps(EVERYDAY),
        "[NaN, Infinity, -Infinity, 1e400, -1e400, -0.0, 1.5e-320]",
        '"\\ud800 lone" ',
        '{"a": 1, "a": 2}',
        "123456789012345678901234567890",
    ],
)
def test_json_text_reads_as_json_loads_does(text: str) -> None:
    """The store's decoder reads every text to json.loads's value (NaN compared as text)."""
    assert repr(json_text.loads(text)) == repr(json.loads(text))


def test_json_text_refuses_what_json_loads_refuses() -> None:
    """Text that is not JSON is an error, as with json.loads."""
    with pytest.raises(ValueError):
        json_text.loads('{"a": ')
