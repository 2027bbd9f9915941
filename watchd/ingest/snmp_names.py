"""Names of the SNMP objects traps carry most often, so alerts read "ifIndex", not OIDs.

A small table shipped in code (SNMPv2-MIB, SNMP-COMMUNITY-MIB, IF-MIB): no MIB is compiled
or fetched at run time. Objects not listed keep their numeric OID as name.
"""

from __future__ import annotations

import re

NAMES: dict[str, str] = {
    # SNMPv2-MIB system group and trap objects
    "1.3.6.1.2.1.1.1": "sysDescr",
    "1.3.6.1.2.1.1.2": "sysObjectID",
    "1.3.6.1.2.1.1.3": "sysUpTime",
    "1.3.6.1.2.1.1.4": "sysContact",
    "1.3.6.1.2.1.1.5": "sysName",
    "1.3.6.1.2.1.1.6": "sysLocation",
    "1.3.6.1.6.3.1.1.4.1": "snmpTrapOID",
    "1.3.6.1.6.3.1.1.4.3": "snmpTrapEnterprise",
    "1.3.6.1.6.3.18.1.3": "snmpTrapAddress",
    "1.3.6.1.6.3.18.1.4": "snmpTrapCommunity",
    # Generic traps (RFC 3418 / RFC 2863)
    "1.3.6.1.6.3.1.1.5.1": "coldStart",
    "1.3.6.1.6.3.1.1.5.2": "warmStart",
    "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp",
    "1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
    "1.3.6.1.6.3.1.1.5.6": "egpNeighborLoss",
    # IF-MIB ifTable / ifXTable columns
    "1.3.6.1.2.1.2.2.1.1": "ifIndex",
    "1.3.6.1.2.1.2.2.1.2": "ifDescr",
    "1.3.6.1.2.1.2.2.1.3": "ifType",
    "1.3.6.1.2.1.2.2.1.5": "ifSpeed",
    "1.3.6.1.2.1.2.2.1.7": "ifAdminStatus",
    "1.3.6.1.2.1.2.2.1.8": "ifOperStatus",
    "1.3.6.1.2.1.31.1.1.1.1": "ifName",
    "1.3.6.1.2.1.31.1.1.1.18": "ifAlias",
}
_BY_NAME = {name: oid for oid, name in NAMES.items()}
_NUMERIC = re.compile(r"^\.?\d+(\.\d+)+$")


def varbind_name(oid: str) -> str:
    """The object's name without its instance suffix (ifIndex.3 -> "ifIndex"), else the OID."""
    oid = oid.lstrip(".")
    parts = oid.split(".")
    for end in range(len(parts), 1, -1):
        name = NAMES.get(".".join(parts[:end]))
        if name is not None:
            return name
    return oid


def oid_of(name_or_oid: str) -> str | None:
    """A numeric OID for a known name or a numeric OID; None for an unknown name."""
    if _NUMERIC.match(name_or_oid):
        return name_or_oid.lstrip(".")
    return _BY_NAME.get(name_or_oid)
