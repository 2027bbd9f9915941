"""The two things the SNMP poller still does with pysnmp, because gufo-snmp cannot.

1. SNMPv3 with a context name (`context` in the check): gufo-snmp 0.13 always sends the
   empty context. `PysnmpSession` polls such a device as watchd did before gufo-snmp (one
   pysnmp engine per session, GET and GETBULK of all columns together), with the same API
   and the same raw values as collectors/snmp_session.py's Session.
2. Saying why a v3 agent refused a request: gufo-snmp turns every Report PDU into one
   "authentication failed". `diagnose` sends one GET through pysnmp, which reads the
   Report's counter OID (wrong digest, unknown user, unsupported security level, ...).
   It runs only after a request was refused twice, so its cost (an engine, ~0.1 s CPU) is
   paid once per failing poll, never on the polling path.

The trap receiver (watchd/ingest/snmptrap.py) uses pysnmp too, for all of its work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gufo.snmp.typing import ValueType
from pyasn1.type import univ
from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905
from pysnmp.proto.rfc1902 import ObjectName

from collectors.snmp_session import Endpoint, SnmpError
from watchd.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS

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


def usm_auth(
    user: str, *, auth_key: str | None, auth_protocol: str, priv_key: str | None, priv_protocol: str
) -> Any:
    """pysnmp USM credentials; absent keys mean noAuthNoPriv or authNoPriv."""
    return UsmUserData(
        user,
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=AUTH_PROTOCOLS[auth_protocol] if auth_key else None,
        privProtocol=PRIV_PROTOCOLS[priv_protocol] if priv_key else None,
    )


class PysnmpSession:
    """One v3 device polled through pysnmp (a context name): Session's API and values."""

    def __init__(self, endpoint: Endpoint, auth: Any, *, context: str = "") -> None:
        self.endpoint = endpoint
        self.version = "3"
        self._auth = auth
        self._context = ContextData(contextName=context) if context else ContextData()
        self._engine: SnmpEngine | None = None
        self._target: Any = None

    async def _transport(self) -> tuple[SnmpEngine, Any]:
        if self._engine is None:
            self._engine = SnmpEngine()
        if self._target is None:
            self._target = await transport(self.endpoint)
        return self._engine, self._target

    async def get(self, oids: Sequence[str], *, each: bool = True) -> dict[str, ValueType]:
        """GET the given OIDs in one request; absent objects are left out (v3: `each` unused)."""
        engine, target = await self._transport()
        result = await get_cmd(
            engine,
            self._auth,
            target,
            self._context,
            *(ObjectType(ObjectIdentity(oid)) for oid in oids),
            lookupMib=False,
        )
        varbinds = _check(self.endpoint, result)
        values = {str(name): raw(value) for name, value in varbinds}
        return {oid: value for oid, value in values.items() if value is not None}

    async def walk(
        self, columns: Sequence[str], *, max_repetitions: int, max_rows: int = 100_000
    ) -> dict[str, dict[str, ValueType]]:
        """Walk several table columns together by GETBULK: {column: {index suffix: value}}."""
        engine, target = await self._transport()
        rows: dict[str, dict[str, ValueType]] = {column: {} for column in columns}
        prefixes = {column: ObjectName(column) for column in columns}
        cursor = {column: prefixes[column] for column in columns}
        active = list(columns)
        for _ in range(max_rows):
            if not active:
                break
            request = [ObjectType(ObjectIdentity(cursor[column])) for column in active]
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
            varbinds = _check(self.endpoint, result)
            finished: set[str] = set()
            for position, (name, value) in enumerate(varbinds):
                column = active[position % len(active)]
                if column in finished:
                    continue
                prefix = prefixes[column]
                decoded = raw(value)
                if decoded is None or not prefix.isPrefixOf(name) or name <= cursor[column]:
                    finished.add(column)
                    continue
                rows[column][str(name)[len(str(prefix)) + 1 :]] = decoded
                cursor[column] = name
            if not varbinds:
                finished.update(active)
            active = [column for column in active if column not in finished]
        return rows

    def release(self) -> None:
        """The poll is over: the engine and its socket stay for the next one."""

    def close(self) -> None:
        """Release the session's engine."""
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
        self._target = None


async def diagnose(endpoint: Endpoint, auth: Any, context: str = "") -> str:
    """Why a v3 agent refuses these credentials, as pysnmp reads its Report (one GET)."""
    engine = SnmpEngine()
    try:
        target = await transport(endpoint)
        error_indication, _, _, _ = await get_cmd(
            engine,
            auth,
            target,
            ContextData(contextName=context) if context else ContextData(),
            ObjectType(ObjectIdentity("1.3.6.1.2.1.1.3.0")),
            lookupMib=False,
        )
    except SnmpError as exc:
        return exc.reason
    finally:
        engine.close_dispatcher()
    return str(error_indication) if error_indication else "no reason given"


async def transport(endpoint: Endpoint) -> Any:
    """pysnmp's UDP (or UDP over IPv6) target for the endpoint."""
    ep = endpoint
    kind = Udp6TransportTarget if ":" in ep.host else UdpTransportTarget
    try:
        return await kind.create((ep.host, ep.port), timeout=ep.timeout, retries=ep.retries)
    except Exception as exc:  # pysnmp wraps name resolution errors in PySnmpError
        raise SnmpError("transport", str(ep), f"cannot resolve {ep.host}: {exc}") from exc


def raw(value: Any) -> ValueType:
    """A pysnmp value as gufo-snmp gives it: int, bytes or str; None for exception values."""
    if value is None or isinstance(
        value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView | univ.Null
    ):
        return None
    if isinstance(value, univ.Integer):  # Counter32/64, Gauge32, TimeTicks, INTEGER
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        return str(value.prettyPrint())
    if isinstance(value, univ.OctetString):
        return bytes(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    return str(value.prettyPrint())


def _check(endpoint: Endpoint, result: Any) -> Any:
    error_indication, error_status, error_index, varbinds = result
    target = str(endpoint)
    if error_indication:
        if isinstance(error_indication, errind.RequestTimedOut):
            tries = endpoint.retries + 1
            raise SnmpError(
                "timeout",
                target,
                f"no answer after {tries} tr{'y' if tries == 1 else 'ies'} of "
                f"{endpoint.timeout:g} s each",
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
        raise SnmpError(
            "agent", target, f"the agent answered {status} at varbind {int(error_index)}"
        )
    return varbinds
