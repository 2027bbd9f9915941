"""SNMP values as Python values: numbers with their SNMP type, text for labels.

TimeTicks become seconds; Counter32/Counter64 keep their width so rates can tell a wrap from
a reset; OctetStrings become text (UTF-8 where it decodes, hex otherwise); the exception
values noSuchObject/noSuchInstance/endOfMibView become None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded SNMP value: `number` when it has one, `text` always, `kind` its SNMP type."""

    kind: str  # counter32, counter64, gauge, timeticks, integer, string, ipaddress, oid
    text: str
    number: float | None = None

    @property
    def counter_bits(self) -> int | None:
        return {"counter32": 32, "counter64": 64}.get(self.kind)


def decode(value: Any) -> Value | None:
    """Decode one pysnmp value; None for the SNMP exception values and for absent ones."""
    if value is None or isinstance(
        value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView | univ.Null
    ):
        return None
    if isinstance(value, rfc1902.TimeTicks):
        seconds = int(value) / 100.0
        return Value("timeticks", f"{seconds:g}", seconds)
    if isinstance(value, rfc1902.Counter64):
        return Value("counter64", str(int(value)), float(int(value)))
    if isinstance(value, rfc1902.Counter32):
        return Value("counter32", str(int(value)), float(int(value)))
    if isinstance(value, rfc1902.Gauge32 | rfc1902.Unsigned32):
        return Value("gauge", str(int(value)), float(int(value)))
    if isinstance(value, univ.Integer):
        return Value("integer", str(int(value)), float(int(value)))
    if isinstance(value, rfc1902.IpAddress):
        return Value("ipaddress", value.prettyPrint())
    if isinstance(value, univ.OctetString):
        text = octets_text(bytes(value))
        return Value("string", text, _number(text))
    if isinstance(value, univ.ObjectIdentifier):
        return Value("oid", str(value))
    return Value("other", value.prettyPrint())


def octets_text(raw: bytes) -> str:
    """Text of an OctetString: UTF-8 when it decodes to printable text, else hex like 0a:1b."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ":".join(f"{byte:02x}" for byte in raw)
    text = text.rstrip("\x00")
    if text.isprintable():
        return text
    return ":".join(f"{byte:02x}" for byte in raw)


def _number(text: str) -> float | None:
    # UCD-SNMP serves load averages as strings ("0.21"): a number in a string is a number.
    try:
        return float(text)
    except ValueError:
        return None
