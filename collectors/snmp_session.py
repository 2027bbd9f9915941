"""SNMP requests with pysnmp's asyncio API: GET of scalars and GETBULK walks of columns.

An SnmpEngine costs about 0.1 s of CPU and 0.8 MB to build, so v1/v2c sessions share one
engine per event loop (community credentials are keyed by pysnmp per community and do not
collide). A v3 session gets its own engine: USM users are keyed by user name, and two
devices may use one name with different keys.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import ObjectName

from collectors.snmp_values import Value, decode

_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SnmpEngine] = (
    weakref.WeakKeyDictionary()
)

# Errors a v3 agent reports (as a Report PDU) when the credentials are wrong.
_AUTH_ERRORS = (
    errind.WrongDigest,
    errind.UnknownUserName,
    errind.UnknownSecurityName,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
)


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


class Session:
    """One device's SNMP session: credentials, transport target and the engine it uses.

    `auth` is pysnmp's CommunityData or UsmUserData; it holds secrets, so it is never
    formatted into a message.
    """

    def __init__(self, endpoint: Endpoint, auth: Any, *, version: str, context: str = "") -> None:
        self.endpoint = endpoint
        self.version = version
        self._auth = auth
        self._context = ContextData(contextName=context) if context else ContextData()
        self._own_engine: SnmpEngine | None = None
        self._target: Any = None

    def _engine(self) -> SnmpEngine:
        if self.version != "3":
            loop = asyncio.get_running_loop()
            engine = _SHARED.get(loop)
            if engine is None:
                engine = _SHARED[loop] = SnmpEngine()
            return engine
        if self._own_engine is None:
            self._own_engine = SnmpEngine()
        return self._own_engine

    async def _transport(self) -> Any:
        if self._target is None:
            ep = self.endpoint
            try:
                if ":" in ep.host:
                    from pysnmp.hlapi.v3arch.asyncio import Udp6TransportTarget

                    self._target = await Udp6TransportTarget.create(
                        (ep.host, ep.port), timeout=ep.timeout, retries=ep.retries
                    )
                else:
                    self._target = await UdpTransportTarget.create(
                        (ep.host, ep.port), timeout=ep.timeout, retries=ep.retries
                    )
            except Exception as exc:  # pysnmp wraps name resolution errors in PySnmpError
                raise SnmpError("transport", str(ep), f"cannot resolve {ep.host}: {exc}") from exc
        return self._target

    async def get(self, oids: Sequence[str]) -> dict[str, Value | None]:
        """GET the given OIDs in one request; absent objects map to None."""
        target = await self._transport()
        result = await get_cmd(
            self._engine(),
            self._auth,
            target,
            self._context,
            *(ObjectType(ObjectIdentity(oid)) for oid in oids),
            lookupMib=False,
        )
        varbinds = self._check(result)
        return {str(name): decode(value) for name, value in varbinds}

    async def walk(
        self, columns: Sequence[str], *, max_repetitions: int, max_rows: int = 100_000
    ) -> dict[str, dict[str, Value]]:
        """Walk several table columns together: {column OID: {row index suffix: value}}.

        Each request asks for the next rows of every column not yet finished (GETBULK in
        v2c/v3, GETNEXT in v1). A column ends at the first OID outside it, at endOfMibView,
        or if the agent answers an OID that does not increase (a broken agent would loop).
        """
        target = await self._transport()
        engine = self._engine()
        rows: dict[str, dict[str, Value]] = {column: {} for column in columns}
        prefixes = {column: ObjectName(column) for column in columns}
        cursor = {column: prefixes[column] for column in columns}
        active = list(columns)
        for _ in range(max_rows):
            if not active:
                break
            request = [ObjectType(ObjectIdentity(cursor[column])) for column in active]
            if self.version == "1":
                result = await next_cmd(
                    engine, self._auth, target, self._context, *request, lookupMib=False
                )
                varbinds = self._check(result, end_of_mib_ok=True)
            else:
                result = await bulk_cmd(
                    engine,
                    self._auth,
                    target,
                    self._context,
                    0,
                    max_repetitions,
                    *request,
                    lookupMib=False,
                )
                varbinds = self._check(result)
            finished: set[str] = set()
            for position, (name, value) in enumerate(varbinds):
                column = active[position % len(active)]
                if column in finished:
                    continue
                prefix = prefixes[column]
                decoded = decode(value)
                if decoded is None or not prefix.isPrefixOf(name) or name <= cursor[column]:
                    finished.add(column)
                    continue
                rows[column][str(name)[len(str(prefix)) + 1 :]] = decoded
                cursor[column] = name
            if not varbinds:
                finished.update(active)
            active = [column for column in active if column not in finished]
        return rows

    def _check(self, result: Any, *, end_of_mib_ok: bool = False) -> Any:
        error_indication, error_status, error_index, varbinds = result
        target = str(self.endpoint)
        if error_indication:
            if isinstance(error_indication, errind.RequestTimedOut):
                tries = self.endpoint.retries + 1
                raise SnmpError(
                    "timeout",
                    target,
                    f"no answer after {tries} tr{'y' if tries == 1 else 'ies'} of "
                    f"{self.endpoint.timeout:g} s each",
                )
            if isinstance(error_indication, _AUTH_ERRORS):
                raise SnmpError(
                    "auth", target, f"the agent refused the credentials: {error_indication}"
                )
            raise SnmpError("agent", target, str(error_indication))
        if error_status:
            status = (
                error_status.prettyPrint() if hasattr(error_status, "prettyPrint") else error_status
            )
            if end_of_mib_ok and str(status) == "noSuchName":
                return ()  # SNMPv1 says "end of the MIB" this way
            raise SnmpError(
                "agent", target, f"the agent answered {status} at varbind {int(error_index)}"
            )
        return varbinds

    def close(self) -> None:
        """Release the session's own engine (v3); the shared engine lives with its loop."""
        if self._own_engine is not None:
            self._own_engine.close_dispatcher()
            self._own_engine = None


def community_auth(community: str, version: str) -> Any:
    """pysnmp credentials for SNMPv1 (mpModel 0) or v2c (mpModel 1)."""
    return CommunityData(community, mpModel=0 if version == "1" else 1)


def usm_auth(
    user: str,
    *,
    auth_key: str | None,
    auth_protocol: Any,
    priv_key: str | None,
    priv_protocol: Any,
) -> Any:
    """pysnmp USM credentials; absent keys mean noAuthNoPriv or authNoPriv."""
    return UsmUserData(
        user,
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=auth_protocol if auth_key else None,
        privProtocol=priv_protocol if priv_key else None,
    )
