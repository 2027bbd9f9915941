"""Persisted states: upsert, load by namespace, delete, and survival across a reopen."""

from __future__ import annotations

from watchd.clock import FakeClock
from watchd.store import Store


async def test_states_upsert_and_load_by_namespace(store: Store) -> None:
    """Saving a key again replaces its state; namespaces do not see each other's keys."""
    await store.save_state("checks", "web1/http", {"state": "SOFT", "attempt": 1})
    await store.save_state("checks", "web1/http", {"state": "HARD", "attempt": 3})
    await store.save_state("rules", "web1/http", {"pending_since": 12.5})
    assert await store.load_states("checks") == {"web1/http": {"state": "HARD", "attempt": 3}}
    assert await store.load_states("rules") == {"web1/http": {"pending_since": 12.5}}
    assert await store.load_states("nothing") == {}


async def test_save_states_writes_many_at_once(store: Store) -> None:
    """Many states saved together are all stored, replacing older values of the same keys."""
    await store.save_state("checks", "a", {"v": 0})
    items = {f"item{i}/ping": {"v": i, "history": [0, 2, 0]} for i in range(200)}
    items["a"] = {"v": "new"}
    await store.save_states("checks", items)
    assert await store.load_states("checks") == items
    await store.save_states("checks", {})  # nothing to do is not an error


async def test_delete_state_forgets_one_key(store: Store) -> None:
    """A deleted state is gone; deleting an unknown key is harmless."""
    await store.save_states("checks", {"a": {"v": 1}, "b": {"v": 2}})
    await store.delete_state("checks", "a")
    await store.delete_state("checks", "never-saved")
    assert await store.load_states("checks") == {"b": {"v": 2}}


async def test_states_survive_a_reopen(db_url: str, store: Store, clock: FakeClock) -> None:
    """States saved before a restart are loaded after it."""
    await store.save_state("checks", "web1/http", {"state": "HARD", "since": 1.5})
    await store.close()
    reopened = await Store.open(db_url, clock=clock)
    try:
        assert await reopened.load_states("checks") == {
            "web1/http": {"state": "HARD", "since": 1.5}
        }
    finally:
        await reopened.close()


async def test_states_of_some_checks_load_without_the_rest(store: Store) -> None:
    """A node taking checks over loads the states saved as theirs, across more keys than one
    query's list holds, and nothing of other checks or of states saved without a check."""
    items = {f"host{i}/ping": {"v": i} for i in range(2_500)}
    await store.save_states("check", items, {key: key for key in items})
    await store.save_states(
        "rules",
        {'["Down", "host1"]': {"v": "r1"}, '["Down", "host2"]': {"v": "r2"}, "@engine": {}},
        {'["Down", "host1"]': "host1/ping", '["Down", "host2"]': "host2/ping"},
    )
    wanted = [f"host{i}/ping" for i in range(0, 2_500, 2)]
    assert await store.load_states_of("check", wanted) == {k: items[k] for k in wanted}
    assert await store.load_states_of("rules", ["host1/ping", "host3/ping"]) == {
        '["Down", "host1"]': {"v": "r1"}
    }
    assert await store.load_states_of("check", []) == {}
