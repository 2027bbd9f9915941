"""The singleton lease on a real PostgreSQL: one holder, takeover after its death, and a
holder cut off from the database that stops its work before anyone can take the lease."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from tests.cluster.conftest import StartNode, wait_for
from tests.store.conftest import PG_HOST, PG_PORT


class CuttableProxy:
    """A TCP proxy to the shared PostgreSQL whose connections can be cut for real: `cut`
    closes every open one and refuses new ones, as a network partition would."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self._cut = True
        for writer in self._writers:
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


async def test_a_dead_holders_lease_is_taken_over_within_dead_after(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """When the holder stops heartbeating (killed), another node takes the lease within
    dead_after and one heartbeat, and says whom it took it from."""
    a = await start_node("a", fresh_pg_url, dead_after=1.0, heartbeat_interval=0.2)
    b = await start_node("b", fresh_pg_url, dead_after=1.0, heartbeat_interval=0.2)
    assert a.membership.lease.held() and not b.membership.lease.held()
    with capture_logs() as logs:
        await a.stop_heartbeat()
        took = await wait_for(b.membership.lease.held, 5)
    assert took < 1.0 + 0.2 + 0.3
    taken = [e for e in logs if e["event"] == "lease_taken_over"]
    assert taken == [
        {"event": "lease_taken_over", "lease": "singleton", "node": "b", "previous": "a",
         "log_level": "warning"}
    ]  # fmt: skip


async def test_a_holder_cut_off_from_postgresql_stops_before_another_takes_over(
    fresh_pg_url: str, start_node: StartNode
) -> None:
    """A holder that cannot renew (its connections cut) gives up its singleton work at its
    own deadline, before the lease expires in the database and another node takes it."""
    proxy = CuttableProxy()
    await proxy.start()
    via_proxy = fresh_pg_url.replace(f":{PG_PORT}/", f":{proxy.port}/")
    try:
        a = await start_node("a", via_proxy, dead_after=2.0, heartbeat_interval=0.4)
        b = await start_node("b", fresh_pg_url, dead_after=2.0, heartbeat_interval=0.4)
        await wait_for(lambda: a.live() == b.live() == ["a", "b"], 5)
        assert a.membership.lease.held()
        with capture_logs() as logs:
            proxy.cut()
            lost_after = await wait_for(lambda: not a.membership.lease.held(), 5)
            assert not b.membership.lease.held()
            taken_after = lost_after + await wait_for(b.membership.lease.held, 5)
        # The holder's deadline is its last renewal + dead_after - one heartbeat interval.
        assert lost_after <= 2.0 - 0.4 + 0.1
        assert lost_after < taken_after <= 2.0 + 0.4 + 0.3
        assert a.live() == ["a", "b"]  # it keeps its last view while cut off
        events = [(e["event"], e.get("node")) for e in logs if e["event"].startswith("lease_")]
        assert events == [("lease_lost", "a"), ("lease_taken_over", "b")]
    finally:
        await proxy.close()
