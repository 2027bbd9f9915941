"""SNMPv3 USM protocols for pysnmp by the names watchd's configs use (net-snmp's), shared by the
pysnmp poller (collectors/snmp_pysnmp.py) and the trap receiver (watchd/ingest/snmptrap.py):
a base module, since watchd reaches collectors only through their registry."""

from __future__ import annotations

from pysnmp.hlapi.v3arch.asyncio import (
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
)

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA-224": usmHMAC128SHA224AuthProtocol,
    "SHA-256": usmHMAC192SHA256AuthProtocol,
    "SHA-384": usmHMAC256SHA384AuthProtocol,
    "SHA-512": usmHMAC384SHA512AuthProtocol,
}
# net-snmp's "AES-256" localises keys as Blumenthal's draft does; Cisco's as Reeder's ("-C").
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES-128": usmAesCfb128Protocol,
    "AES-192": usmAesBlumenthalCfb192Protocol,
    "AES-256": usmAesBlumenthalCfb256Protocol,
    "AES-256-C": usmAesCfb256Protocol,
}
