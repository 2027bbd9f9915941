"""The Store: one object the rest of watchd holds to reach the database (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

import watchd.store.alerts as alert_queries
import watchd.store.samples as sample_queries
import watchd.store.states as state_queries
from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.model import Alert
from watchd.store.engine import (
    SqliteSync,
    create_engine,
    reading,
    sqlite_path,
    store_errors,
    writing,
)
from watchd.store.errors import StoreError
from watchd.store.migrate import upgrade_engine
from watchd.store.samples import AvailabilitySample
from watchd.store.sqlite_file import SqliteFile
from watchd.store.writer import SampleWriter

log = get_logger("watchd.store")

DEFAULT_MAX_PENDING = 100_000


class Store:
    """Samples (batched), states, and alerts in SQLite or PostgreSQL. Build it with `open`."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        writer: SampleWriter,
        sqlite_file: SqliteFile | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._writer = writer
        self._file = sqlite_file

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        migrate: bool = True,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_flush: Callable[[float], None] | None = None,
        sqlite_sync: SqliteSync = "normal",
        in_loop: bool = False,
        claim: bool = False,
        node: str | None = None,
    ) -> Store:
        """Connect to `url` (sqlite:///path or postgresql://...), migrating to the newest schema.

        `max_pending` bounds the samples held in memory while writes fail; past it the
        oldest are dropped. `on_flush` is told each successful batch write's duration.
        `sqlite_sync` is SQLite's synchronous mode ("full" survives a power loss).
        `in_loop` runs SQLite on the event loop's thread (simulations only: see create_engine).
        `claim` (the daemon) locks a SQLite file for this process, StoreLocked if another
        daemon has it, and watches it: see watchd.store.sqlite_file.
        `node` is this cluster node's name, stamped on every sample it writes (samples.node);
        SQLite (always one node) and None leave it NULL, which costs nothing per sample.
        """
        path = sqlite_path(url)
        claimed = None
        if claim and path is not None:
            with store_errors(f"lock {path}"):
                path.parent.mkdir(parents=True, exist_ok=True)
                claimed = SqliteFile.claim(path)
        engine = create_engine(
            url,
            sqlite_sync=sqlite_sync,
            in_loop=in_loop,
            # Once the file is lost, no new connection may open the path: it would create an
            # empty file there and reset the write-ahead log the old file's data is still in.
            before_connect=claimed.refuse_lost if claimed is not None else None,
        )
        try:
            if migrate:
                await upgrade_engine(engine)
            if claimed is not None:
                with store_errors(f"open {path}"):
                    claimed.watch()
                event.listen(engine.sync_engine, "commit", claimed.refuse_lost)
        except BaseException:
            await engine.dispose()
            if claimed is not None:
                claimed.release()
            raise
        writer = SampleWriter(
            engine,
            clock=clock,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_pending=max_pending,
            on_flush=on_flush,
            node=node if path is None else None,
        )
        return cls(engine, clock, writer, claimed)

    async def close(self) -> None:
        """Flush pending samples, then release every connection.

        If the last flush fails, the samples still queued are lost and one error line says
        how many; close itself does not raise for that, so shutdown completes.
        """
        try:
            await self._writer.flush()
        except StoreError as exc:
            log.error("samples lost at close", pending=self._writer.pending, reason=exc.reason)
        finally:
            await self._engine.dispose()
            if self._file is not None:
                self._file.release()

    @property
    def sole_process(self) -> bool:
        """Whether this process holds the store's SQLite file, so no other daemon can be
        reading or delivering from it."""
        return self._file is not None

    def file_lost(self) -> str | None:
        """Why the store refuses writes for good, if its SQLite file was deleted or replaced."""
        lost = self._file.check() if self._file is not None else None
        return str(lost) if lost is not None else None

    async def watch_file(self, interval: float = 1.0) -> None:
        """Check every `interval` whether the claimed SQLite file is still there, until cancelled;
        the first time it is not, log it once and save a copy (SqliteFile.report)."""
        if self._file is None:
            return
        while not await self._file.report():
            await self._clock.sleep(interval)

    @property
    def engine(self) -> AsyncEngine:
        """The engine, for store modules that add their own queries."""
        return self._engine

    @property
    def write_latency_seconds(self) -> float:
        """How long the last successful sample flush took."""
        return self._writer.write_latency_seconds

    @property
    def pending_samples(self) -> int:
        """Samples recorded but not yet written."""
        return self._writer.pending

    @property
    def dropped_samples(self) -> int:
        """Samples dropped (oldest first) because the queue overflowed while writes failed."""
        return self._writer.dropped

    def record_sample(self, sample: AvailabilitySample) -> None:
        """Queue one sample for the writer; never blocks, never fails."""
        self._writer.record(sample)

    async def flush(self) -> int:
        """Write every queued sample in one transaction and return how many were written.

        On failure the samples stay queued and StoreError is raised.
        """
        return await self._writer.flush()

    async def run_writer(self) -> None:
        """Write queued samples in batches until cancelled (see SampleWriter.run)."""
        await self._writer.run()

    async def save_state(self, namespace: str, key: str, data: dict[str, Any]) -> None:
        """Store `data` (JSON-able) as the state of `key` in `namespace`, replacing any old one."""
        await self.save_states(namespace, {key: data})

    async def save_states(
        self,
        namespace: str,
        items: dict[str, dict[str, Any]],
        check_keys: Mapping[str, str] | None = None,
    ) -> None:
        """Store many states of one namespace in one transaction; `check_keys` says which
        check ("item/check") each key belongs to, for `load_states_of`."""
        async with writing(self._engine, f"save {len(items)} {namespace} states") as conn:
            await state_queries.upsert_states(conn, namespace, items, self._clock.now(), check_keys)

    async def load_states(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every state stored in `namespace`, by key."""
        async with reading(self._engine, f"load {namespace} states") as conn:
            return await state_queries.select_states(conn, namespace)

    async def load_states_of(
        self, namespace: str, check_keys: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """The states in `namespace` saved as belonging to the checks `check_keys`, by key:
        a cluster node taking checks over reads theirs, not every node's."""
        if not check_keys:
            return {}
        async with reading(
            self._engine, f"load {len(check_keys)} checks' {namespace} states"
        ) as conn:
            return await state_queries.select_states_of(conn, namespace, check_keys)

    async def delete_state(self, namespace: str, key: str) -> None:
        """Forget the state of `key` in `namespace`."""
        async with writing(self._engine, f"delete {namespace} state {key!r}") as conn:
            await state_queries.delete_state(conn, namespace, key)

    async def samples(
        self,
        *,
        item: str | None = None,
        check: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[AvailabilitySample]:
        """Written samples matching the filters (`since` <= time < `until`), oldest first."""
        async with reading(self._engine, "read samples") as conn:
            return await sample_queries.select_samples(
                conn, item=item, check=check, since=since, until=until, limit=limit
            )

    async def sample_count(self) -> int:
        """How many samples are written."""
        async with reading(self._engine, "count samples") as conn:
            return await sample_queries.count_samples(conn)

    async def prune_samples(self, older_than: float) -> int:
        """Delete samples with time < `older_than` (retention); return how many were deleted.

        Deletes run in chunks, each its own short transaction, so writers are not held up.
        """
        total = 0
        while True:
            async with writing(self._engine, "prune samples") as conn:
                deleted = await sample_queries.prune_chunk(conn, older_than)
            total += deleted
            if deleted < sample_queries.PRUNE_CHUNK:
                return total

    async def record_alerts(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts by fingerprint in one transaction, committed on return."""
        async with writing(self._engine, f"record {len(alerts)} alerts") as conn:
            await alert_queries.upsert_alerts(conn, alerts, self._clock.now())

    async def alerts(self, *, status: str | None = None) -> list[Alert]:
        """Stored alerts, optionally only those with `status` ("firing" or "resolved")."""
        async with reading(self._engine, "read alerts") as conn:
            return await alert_queries.select_alerts(conn, status)
