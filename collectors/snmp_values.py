"""SNMP values as Python values: numbers with their SNMP type, text for labels.

gufo-snmp hands back plain Python values that no longer carry their SNMP type: Counter32,
Counter64, Gauge32, TimeTicks and INTEGER all arrive as `int`, OCTET STRING and Opaque as
`bytes`, IpAddress and OBJECT IDENTIFIER as `str`. The type a rate needs (a Counter32 wraps at
2**32, a Counter64 that goes down was reset) therefore comes from the profile: a column or
scalar declares `type: counter32`, `counter64` or `timeticks`, as snmp_exporter's generated
modules do. TimeTicks become seconds; OCTET STRINGs become text (UTF-8 where it decodes, hex
otherwise); a number in a string (UCD-SNMP's load averages) is a number.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

# What the SNMP libraries give back for one varbind (gufo-snmp's ValueType without None).
Raw = int | float | str | bytes
# The types a profile can declare: the ones that change what a number means.
Declared = Literal["", "counter32", "counter64", "timeticks", "gauge"]
_BITS = {"counter32": 32, "counter64": 64}


class Value(NamedTuple):
    """One decoded SNMP value: `number` when it has one, `text` always, `kind` its SNMP type.

    A named tuple, immutable like the frozen dataclass it was and about three times cheaper to
    make: every varbind of every poll becomes one (watchd.model.Sample made the same move).
    """

    kind: str  # counter32, counter64, gauge, timeticks, integer, string, text
    text: str
    number: float | None = None

    @property
    def counter_bits(self) -> int | None:
        return _BITS.get(self.kind)


def typed(raw: Raw, declared: Declared = "") -> Value:
    """One raw value as the profile declares it; undeclared numbers are plain integers."""
    if isinstance(raw, bytes):
        text = octets_text(raw)
        return Value("string", text, _number(text))
    if isinstance(raw, str):  # IpAddress (dotted quad) or OBJECT IDENTIFIER
        return Value("text", raw)
    if isinstance(raw, bool):  # BOOLEAN never appears in SNMP; keep it out of the numbers
        return Value("text", str(raw))
    if declared == "timeticks":
        seconds = raw / 100.0
        return Value("timeticks", f"{seconds:g}", seconds)
    return Value(declared or "integer", str(raw), float(raw))


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
