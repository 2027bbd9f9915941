"""SNMP requests on gufo-snmp: GET of scalars, GETBULK (v2c/v3) or GETNEXT (v1) column walks.

One Session is one device: one connected UDP socket (gufo-snmp's Rust client socket: BER
encoding, USM and the socket IO run in Rust), kept from poll to poll (within a descriptor
budget, see `_sockets`) and closed by `close()`. Requests on a session go one at a time (the
socket matches a reply by the last request id); the socket's reader is registered once, and
the requests of an event loop share one timer (`_Deadlines`).

This is watchd's one helper that reaches into gufo-snmp below its public `SnmpSession`: it
drives the client sockets of `gufo.snmp._fast` (their typed stubs and `protocol.py` describe
them) because `SnmpSession` lacks what a poller needs: retries, telling "port unreachable"
from "no answer", and waiting without an `asyncio.wait_for` task and reader per reply.
gufo-snmp's own limits, and what watchd does about them:

- values come back without their SNMP type (collectors/snmp_values.py: types from profiles);
- a v3 Report is one `SnmpAuthError` whatever it says, and a Report about an encrypted
  request is dropped unread (it carries no request id to match): the session discovers the
  engine again once (a restarted agent, a clock out of the 150 s window) and resends; if it
  is refused again, `diagnose` (pysnmp, in collectors/snmp_pysnmp.py) asks once more to say
  whether the key or the user is wrong;
- no v3 context name: a check with `context` polls through pysnmp (collectors/snmp_pysnmp.py);
- responses are not checked for their HMAC (gufo-snmp 0.12/0.13 signs requests only): with
  authPriv a forged reply must still decrypt with the privacy key;
- host names are resolved here (gufo-snmp takes addresses), once per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gufo.snmp import NoSuchInstance, SnmpAuthError, User
from gufo.snmp import SnmpError as GufoSnmpError
from gufo.snmp._fast import (  # the client sockets: see the module docstring
    GetIter,
    SnmpV1ClientSocket,
    SnmpV2cClientSocket,
    SnmpV3ClientSocket,
)
from gufo.snmp.typing import ValueType
from gufo.snmp.utils import format_sock_addr

T = TypeVar("T")
Socket = SnmpV1ClientSocket | SnmpV2cClientSocket | SnmpV3ClientSocket
# An agent drops a v3 request whose engine time is more than 150 s off its own; gufo-snmp
# takes the time from the last reply, so a session idle for longer asks the agent first.
_RESYNC_AFTER = 120.0


# Sockets open in this process, against a budget of a quarter of the descriptors it may open:
# a session that opens its socket past the budget closes it after each poll (a v3 one then
# discovers the engine again every poll) rather than fail on EMFILE with a default limit of
# 1,024 descriptors and thousands of devices. (systemd/watchd.service allows 65,536.)
_sockets = 0


def _socket_budget() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 30 if soft == resource.RLIM_INFINITY else soft // 4


class SnmpError(Exception):
    """An SNMP request failed. `kind` is "timeout", "auth", "agent" or "transport"."""

    def __init__(self, kind: str, target: str, reason: str) -> None:
        super().__init__(f"SNMP request to {target} failed: {reason}")
        self.kind = kind
        self.target = target
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to ask: address, port, per-request timeout and retries."""

    host: str
    port: int
    timeout: float
    retries: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Community:
    """SNMPv1/v2c credentials. Holds a secret: never formatted into a message."""

    community: str = ""

    def __repr__(self) -> str:
        return "Community(<hidden>)"


class Session:
    """One device's SNMP session over gufo-snmp (see the module docstring).

    `credentials` is a Community (v1, v2c) or a gufo-snmp `User` (v3). `diagnose`, if given,
    is awaited after a v3 request was refused twice and returns the agent's reason.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Community | User,
        *,
        version: str,
        diagnose: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.version = version
        self._credentials = credentials
        self._diagnose = diagnose
        self._sock: Socket | None = None
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None  # where the socket's reader is
        self._waiter: asyncio.Future[bool] | None = None  # the request waiting for a datagram
        self._synced_at = -_RESYNC_AFTER  # loop time of the last v3 reply
        self._keep = True  # keep the socket between polls (else closed by release())
        self._target = str(endpoint)

    async def get(self, oids: Sequence[str], *, each: bool = True) -> dict[str, ValueType]:
        """GET the given OIDs in one request; absent objects are left out.

        SNMPv1 answers noSuchName for the whole request if one OID is absent: with `each`,
        the OIDs are then asked one by one rather than lose every one of them.
        """
        await self._open()
        request = list(oids)
        values: dict[str, ValueType] = await self._request(
            lambda sock: sock.send_get_many(request), lambda sock: sock.recv_get_many()
        )
        if each and self.version == "1" and len(values) < len(oids):
            for oid in oids:
                if oid not in values:
                    value = await self._get_one(oid)
                    if value is not None:
                        values[oid] = value
        return values

    async def _get_one(self, oid: str) -> ValueType | None:
        try:
            value: ValueType | None = await self._request(
                lambda sock: sock.send_get(oid), lambda sock: sock.recv_get()
            )
        except NoSuchInstance:
            return None
        return value

    async def walk(
        self, columns: Sequence[str], *, max_repetitions: int, max_rows: int = 100_000
    ) -> dict[str, dict[str, ValueType]]:
        """Walk table columns: {column OID: {row index suffix: value}}.

        Each column is walked by GETBULK (v2c/v3) or GETNEXT (v1) until the first OID outside
        it or endOfMibView. An agent that answers an OID that does not increase (a broken
        agent would loop) ends the column there.
        """
        await self._open()
        return {
            column: await self._walk_column(column, max_repetitions, max_rows) for column in columns
        }

    async def _walk_column(
        self, column: str, max_repetitions: int, max_rows: int
    ) -> dict[str, ValueType]:
        rows: dict[str, ValueType] = {}
        skip = len(column) + 1
        last: tuple[int, ...] = ()
        if self.version == "1":
            it = GetIter(column)
            while len(rows) < max_rows:
                try:
                    oid, value = await self._request(
                        lambda sock: sock.send_get_next(it), lambda sock: sock.recv_get_next(it)
                    )
                except StopAsyncIteration:
                    break
                key = _oid_key(oid)
                if key <= last:
                    break
                last = key
                rows[oid[skip:]] = value
            return rows
        it = GetIter(column, max_repetitions)
        while len(rows) < max_rows:
            try:
                batch = await self._request(
                    lambda sock: sock.send_get_bulk(it), lambda sock: sock.recv_get_bulk(it)
                )
            except StopAsyncIteration:
                break
            end = batch[-1] is None
            items = batch[:-1] if end else batch
            if items:
                key = _oid_key(items[-1][0])  # type: ignore[index]
                if key <= last:
                    break
                last = key
                for item in items:
                    oid, value = item  # type: ignore[misc]
                    rows[oid[skip:]] = value
            if end or not items:
                break
        return rows

    async def _open(self) -> None:
        global _sockets
        if self._sock is None:
            self._sock = await self._connect()
            self._fd = self._sock.get_fd()
            self._keep = _sockets < _socket_budget()
            _sockets += 1
            self._loop = loop = asyncio.get_running_loop()
            loop.add_reader(self._fd, self._on_readable)
        loop = asyncio.get_running_loop()
        if self.version == "3" and loop.time() - self._synced_at > _RESYNC_AFTER:
            await self._sync()

    async def _rediscover(self) -> None:
        """v3: a new socket, engine id discovery and time synchronisation from scratch."""
        self.close()
        await self._open()

    async def _resend_rediscovered(self, send: Callable[[Socket], None]) -> float:
        """Discover the agent's engine again, send the request anew; its new deadline."""
        await self._rediscover()
        deadline = asyncio.get_running_loop().time() + self.endpoint.timeout
        self._send(send)
        return deadline

    async def _connect(self) -> Socket:
        ep = self.endpoint
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise SnmpError("transport", self._target, f"cannot resolve {ep.host}: {exc}") from exc
        address = format_sock_addr(str(infos[0][4][0]), ep.port)
        creds = self._credentials
        try:
            if isinstance(creds, Community):
                kind = SnmpV1ClientSocket if self.version == "1" else SnmpV2cClientSocket
                return kind(address, creds.community, 0, 0, 0, 0)
            # Engine id discovery first, with the empty user; the keys are localised to the
            # discovered engine id by `_sync`.
            empty = User.default()
            return SnmpV3ClientSocket(
                address,
                b"",
                empty.name,
                empty.get_auth_alg(),
                empty.get_auth_key(),
                empty.get_priv_alg(),
                empty.get_priv_key(),
                0,
                0,
                0,
                0,
            )
        except OSError as exc:
            raise SnmpError("transport", self._target, f"cannot open a socket: {exc}") from exc

    async def _sync(self) -> None:
        """v3: discover the engine id (first time), then the agent's engine boots and time."""
        sock = self._sock
        assert isinstance(sock, SnmpV3ClientSocket) and isinstance(self._credentials, User)
        if not sock.get_engine_id():
            await self._request(_send_refresh, _recv_refresh, sync=False)
            user = self._credentials
            sock.set_keys(
                user.name,
                user.get_auth_alg(),
                user.get_auth_key(),
                user.get_priv_alg(),
                user.get_priv_key(),
            )
        if self._credentials.require_auth():
            await self._request(_send_refresh, _recv_refresh, sync=False)
        self._synced_at = asyncio.get_running_loop().time()

    async def _request(
        self,
        send: Callable[[Socket], None],
        recv: Callable[[Socket], T],
        *,
        sync: bool = True,
    ) -> T:
        """Send, wait for the matching reply; retry after each timeout, then raise.

        With `sync` (a v3 request, not a synchronisation itself): a Report, or a datagram
        that could not be read (a Report about an encrypted request carries no request id
        gufo-snmp can match), means the agent restarted or forgot us: discover its engine
        again, once, and resend.
        """
        loop = asyncio.get_running_loop()
        ep = self.endpoint
        refused = resynced = False
        resync = sync and self.version == "3"
        for _ in range(ep.retries + 1):
            deadline = loop.time() + ep.timeout
            self._send(send)
            while await self._readable(loop, deadline):
                sock = self._sock
                assert sock is not None
                try:
                    value = recv(sock)
                except BlockingIOError:  # a datagram gufo-snmp dropped (not our reply)
                    if resync and not resynced:
                        resynced = True
                        deadline = await self._resend_rediscovered(send)
                    continue
                except TimeoutError:
                    # gufo-snmp's "connection refused": an ICMP port unreachable. The try
                    # still lasts its timeout (the agent may be restarting), then the next.
                    refused = True
                    await asyncio.sleep(max(0.0, deadline - loop.time()))
                    break
                except SnmpAuthError:  # a Report: wrong keys, or an agent that restarted
                    if not sync:
                        raise
                    if resync and not resynced:
                        resynced = True
                        deadline = await self._resend_rediscovered(send)
                        continue
                    raise await self._refused() from None
                except (NoSuchInstance, StopAsyncIteration):
                    raise  # answers the caller reads: absent object, end of a walk
                except GufoSnmpError as exc:  # a datagram it could not decode
                    raise SnmpError("agent", self._target, f"unreadable answer: {exc}") from exc
                except OSError as exc:
                    raise SnmpError("transport", self._target, f"cannot receive: {exc}") from exc
                if self.version == "3":
                    self._synced_at = loop.time()
                return value
        tries = ep.retries + 1
        why = f" ({self.endpoint.host} says nothing listens on port {ep.port})" if refused else ""
        raise SnmpError(
            "timeout",
            self._target,
            f"no answer after {tries} tr{'y' if tries == 1 else 'ies'} of "
            f"{ep.timeout:g} s each{why}",
        )

    def _send(self, send: Callable[[Socket], None]) -> None:
        assert self._sock is not None
        try:
            send(self._sock)
        except BlockingIOError:
            pass  # the socket buffer is full: this try is lost, as a dropped datagram
        except OSError as exc:
            raise SnmpError("transport", self._target, f"cannot send: {exc}") from exc

    async def _refused(self) -> SnmpError:
        """The error for a v3 request the agent refused after a fresh discovery."""
        reason = "the agent refused the credentials"
        if self._diagnose is not None:
            reason = f"{reason}: {await self._diagnose(self._target)}"
        return SnmpError("auth", self._target, reason)

    async def _readable(self, loop: asyncio.AbstractEventLoop, deadline: float) -> bool:
        """Wait until the socket has a datagram (True) or the deadline passed (False)."""
        if loop.time() >= deadline:
            return False
        waiter = self._waiter = loop.create_future()
        deadlines = _deadlines(loop)
        deadlines.add(waiter, deadline)
        try:
            readable: bool = await waiter
        finally:
            self._waiter = None
            deadlines.discard(waiter)
        return readable

    def _on_readable(self) -> None:
        # Registered once per socket (cheaper than a reader per request). Without a request
        # waiting, a datagram is a late reply: read and drop it, or the loop would spin.
        waiter = self._waiter
        if waiter is None:
            if self._sock is not None:
                with contextlib.suppress(Exception):
                    self._sock.recv_get_many()
        elif not waiter.done():
            waiter.set_result(True)

    def release(self) -> None:
        """The poll is over: close the socket unless the session may keep it (see _sockets)."""
        if not self._keep:
            self.close()

    def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        global _sockets
        if self._sock is not None:
            _sockets -= 1
        if self._loop is not None and self._fd >= 0 and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._sock = None  # gufo-snmp closes the socket when the object goes
        self._fd = -1
        self._loop = None
        self._synced_at = -_RESYNC_AFTER


class _Deadlines:
    """The requests of one event loop waiting for a reply, swept every _TICK seconds.

    One timer for all of them, not one per request: a request's timer is armed and cancelled
    in well under a millisecond when the device answers, and that costs (a TimerHandle in
    asyncio's heap, a libuv timer in uvloop) more than a dictionary entry. A timeout fires up
    to _TICK late. A request that ends leaves the timer running (the requests of a poller
    rarely overlap: cancelling it when none waited re-armed it for nearly every request); a
    sweep that finds none waiting does not re-arm it. The loop is held weakly, so a finished
    loop does not stay in _DEADLINES.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._waiters: dict[asyncio.Future[bool], float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, waiter: asyncio.Future[bool], deadline: float) -> None:
        self._waiters[waiter] = deadline
        if self._timer is None:
            self._timer = waiter.get_loop().call_later(_TICK, self._sweep)

    def discard(self, waiter: asyncio.Future[bool]) -> None:
        self._waiters.pop(waiter, None)

    def _sweep(self) -> None:
        loop = self._loop()
        if loop is None:
            return
        now = loop.time()
        expired = [waiter for waiter, deadline in self._waiters.items() if deadline <= now]
        for waiter in expired:
            del self._waiters[waiter]
            if not waiter.done():
                waiter.set_result(False)
        self._timer = loop.call_later(_TICK, self._sweep) if self._waiters else None


_TICK = 0.05
_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    deadlines = _DEADLINES.get(loop)
    if deadlines is None:
        deadlines = _DEADLINES[loop] = _Deadlines(loop)
    return deadlines


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split("."))


def _send_refresh(sock: Socket) -> None:
    assert isinstance(sock, SnmpV3ClientSocket)
    sock.send_refresh()


def _recv_refresh(sock: Socket) -> None:
    assert isinstance(sock, SnmpV3ClientSocket)
    sock.recv_refresh()
