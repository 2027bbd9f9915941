"""A PostgreSQL URL naming several hosts (a primary and its standbys behind no proxy): the
store connects to the first that answers and is of the kind `target_session_attrs` asks for."""

from __future__ import annotations

import pytest

from watchd.clock import FakeClock
from watchd.store import Store, StoreError

pytestmark = pytest.mark.integration


def several_hosts(pg_url: str, attrs: str) -> str:
    """`pg_url`'s database behind a host list whose first host refuses connections."""
    database = pg_url.rsplit("/", 1)[1]
    return (
        f"postgresql://postgres@/{database}?host=127.0.0.1:1&host=127.0.0.1:5432"
        f"&target_session_attrs={attrs}"
    )


async def test_a_url_with_several_hosts_uses_the_writable_one_that_answers(pg_url: str) -> None:
    """With a dead host first and the primary second, the store opens on the primary and writes."""
    store = await Store.open(several_hosts(pg_url, "read-write"), clock=FakeClock())
    try:
        await store.save_state("multihost", "k", {"v": 1})
        assert await store.load_states("multihost") == {"k": {"v": 1}}
    finally:
        await store.close()


async def test_no_host_of_the_asked_kind_fails_to_open(pg_url: str) -> None:
    """Asking for a standby where only a primary answers fails at open instead of writing to it."""
    with pytest.raises(StoreError, match="could not upgrade the database schema"):
        await Store.open(several_hosts(pg_url, "standby"), clock=FakeClock())
