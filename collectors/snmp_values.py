"""SNMP values as Python values: numbers for samples, text for labels and messages.

gufo-snmp hands back plain Python values that no longer carry their SNMP type: Counter32,
Counter64, Gauge32, TimeTicks and INTEGER all arrive as `int`, OCTET STRING and Opaque as
`bytes`, IpAddress and OBJECT IDENTIFIER as `str`. The type a rate needs (a Counter32 wraps at
2**32, a Counter64 that goes down was reset) therefore comes from the profile: a column or
scalar declares `type: counter32`, `counter64` or `timeticks`, as snmp_exporter's generated
modules do. TimeTicks become seconds; OCTET STRINGs become text (UTF-8 where it decodes, hex
otherwise); a number in a string (UCD-SNMP's load averages) is a number. A raw value is read
where it is used (collectors/snmp_eval.py): as a number for a metric, as text for a label.
"""

from __future__ import annotations

from typing import Literal

# What the SNMP libraries give back for one varbind (gufo-snmp's ValueType without None).
Raw = int | float | str | bytes
# The types a profile can declare: the ones that change what a number means.
Declared = Literal["", "counter32", "counter64", "timeticks", "gauge"]
_BITS = {"counter32": 32, "counter64": 64}


def number(raw: Raw, declared: Declared = "") -> float | None:
    """The number a raw value stands for as the profile declares it; None for text."""
    if isinstance(raw, bytes):
        return _number(octets_text(raw))
    if isinstance(raw, str | bool):  # IpAddress, OBJECT IDENTIFIER; BOOLEAN is no SNMP type
        return None
    if declared == "timeticks":
        return raw / 100.0
    return float(raw)


def text(raw: Raw, declared: Declared = "") -> str:
    """The text of a raw value (a label, an info scalar): TimeTicks in seconds."""
    if isinstance(raw, bytes):
        return octets_text(raw)
    if isinstance(raw, str):
        return raw
    if declared == "timeticks" and not isinstance(raw, bool):
        return f"{raw / 100.0:g}"
    return str(raw)


def counter_bits(raw: Raw, declared: Declared) -> int | None:
    """The width a rate reads of a raw value: its declared counter type's, when a number came
    (a counter served as a string is read as a Counter64 would be: a drop is a reset)."""
    if isinstance(raw, bytes | str | bool):
        return None
    return _BITS.get(declared)


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


# What a text float() reads can start with (after blanks): a digit (any Unicode decimal
# digit), a sign, a point, or the i/n of inf, infinity and nan.
_NUMBER_STARTS = frozenset("+-.iInN")


def _number(text: str) -> float | None:
    # UCD-SNMP serves load averages as strings ("0.21"): a number in a string is a number.
    # Most strings are names (ifName, ifDescr): those are told at their first character,
    # without the exception float() raises, which cost more than the rest of their decoding.
    if not _may_start_number(text[:1]) and not _may_start_number(text.lstrip()[:1]):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _may_start_number(first: str) -> bool:
    return first in _NUMBER_STARTS or first.isdecimal()
