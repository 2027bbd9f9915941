"""SNMP values to samples: profiles, rates, wraps and resets, without a network."""

from __future__ import annotations

import pytest
from pysnmp.proto import rfc1902

from collectors.snmp_eval import PollData, evaluate
from collectors.snmp_profile import Column, Derived, Profile, Table
from collectors.snmp_pysnmp import raw
from collectors.snmp_rates import RateTracker
from collectors.snmp_values import Value, typed

IF = Profile(
    name="t",
    tables=[
        Table(
            name="if",
            index=["ifIndex"],
            columns=[
                Column(oid="1.1", label="ifName"),
                Column(oid="1.2", metric="octets_total", type="counter64"),
                Column(oid="1.3", metric="high_speed_mbps"),
                Column(oid="1.4", metric="speed_bps"),
            ],
            derived=[
                Derived(
                    metric="util_percent",
                    rate=["octets_total"],
                    scale=800,
                    divide_by=[("high_speed_mbps", 1e6), ("speed_bps", 1)],
                )
            ],
        )
    ],
)


def _poll(octets: Value, uptime: float, high_speed: float = 0.0) -> PollData:
    return PollData(
        scalars={},
        columns={
            "1.1": {"7": Value("string", "ge-0/0/1")},
            "1.2": {"7": octets},
            "1.3": {"7": Value("gauge", str(high_speed), high_speed)},
            "1.4": {"7": Value("gauge", "1000", 1000.0)},
        },
        uptime=uptime,
    )


def _c64(value: int) -> Value:
    return Value("counter64", str(value), float(value))


def test_utilisation_falls_back_to_if_speed_when_high_speed_is_zero() -> None:
    """Utilisation divides by ifSpeed when ifHighSpeed is zero, as on slow links."""
    rates = RateTracker()
    evaluate([IF], _poll(_c64(0), 10), rates, 0.0)
    samples, _ = evaluate([IF], _poll(_c64(125), 20), rates, 10.0)
    [util] = [s for s in samples if s.metric == "util_percent"]
    assert util.value == pytest.approx(125 / 10 * 8 / 1000 * 100)
    assert util.labels == {"ifIndex": "7", "ifName": "ge-0/0/1"}


def test_counter64_going_down_is_a_reset_not_a_wrap() -> None:
    """A Counter64 that goes down gives a small rate from zero, never a 2**64 spike."""
    rates = RateTracker()
    rates.begin(None, 0.0)
    assert rates.rate("k", 1000.0, 64) is None
    rates.end()
    rates.begin(None, 10.0)
    assert rates.rate("k", 100.0, 64) == pytest.approx(10.0)


def test_counter32_going_down_wraps() -> None:
    """A Counter32 that goes down while the device stays up wrapped at 2**32."""
    rates = RateTracker()
    rates.begin(100.0, 0.0)
    rates.rate("k", 2**32 - 10.0, 32)
    rates.end()
    rates.begin(110.0, 10.0)
    assert rates.rate("k", 10.0, 32) == pytest.approx(2.0)


def test_uptime_going_back_skips_the_rate_once() -> None:
    """After the device uptime goes back the next rate is withheld, then rates resume."""
    rates = RateTracker()
    rates.begin(1000.0, 0.0)
    rates.rate("k", 5000.0, 32)
    rates.end()
    rates.begin(5.0, 10.0)
    assert rates.restarted
    assert rates.rate("k", 100.0, 32) is None
    rates.end()
    rates.begin(15.0, 20.0)
    assert rates.rate("k", 200.0, 32) == pytest.approx(10.0)


def test_a_poll_that_never_ended_gives_no_rates_against_the_next() -> None:
    """A poll that raised midway left some readings replaced and some not: the next poll
    gives no rate rather than one over the wrong span, then rates resume."""
    rates = RateTracker()
    rates.begin(None, 0.0)
    rates.rate("a", 0.0, 64)
    rates.rate("b", 0.0, 64)
    rates.end()
    rates.begin(None, 10.0)
    rates.rate("a", 100.0, 64)  # the poll stops here: "b" keeps its reading of time 0
    rates.begin(None, 20.0)
    assert rates.rate("b", 200.0, 64) is None
    rates.end()
    rates.begin(None, 30.0)
    assert rates.rate("b", 300.0, 64) == pytest.approx(10.0)


def test_multiply_by_scales_by_another_column() -> None:
    """hrStorage-like columns are multiplied by the row's allocation units."""
    profile = Profile(
        name="s",
        tables=[
            Table(
                name="storage",
                columns=[Column(oid="2.5", metric="size_bytes", multiply_by="2.4")],
            )
        ],
    )
    data = PollData(
        scalars={},
        columns={
            "2.5": {"1": Value("integer", "10", 10.0)},
            "2.4": {"1": Value("integer", "4096", 4096.0)},
        },
    )
    samples, _ = evaluate([profile], data, RateTracker(), 0.0)
    assert [(s.metric, s.value, dict(s.labels)) for s in samples] == [
        ("size_bytes", 40960.0, {"index": "1"})
    ]


def test_typed_values() -> None:
    """Declared TimeTicks become seconds, declared counters keep their width, octets read as text."""
    assert typed(12345, "timeticks") == Value("timeticks", "123.45", 123.45)
    assert typed(5, "counter32").counter_bits == 32
    assert typed(5, "counter64").counter_bits == 64
    assert typed(5).counter_bits is None and typed(5).number == 5.0
    assert typed("10.0.0.1").text == "10.0.0.1"
    assert typed(b"\x00\x1b\xff").text == "00:1b:ff"
    assert typed(b"0.25").number == 0.25


def test_an_octet_string_is_a_number_exactly_when_float_reads_it() -> None:
    """Names stay text without a number; what float() reads (blanks, signs, inf, nan, any
    Unicode decimal digits) is a number, as before names were told by their first character."""
    for text in ["eth0", "", " x", "e5", "abc 1", "_1", "Gi0/1"]:
        assert typed(text.encode()).number is None, text
    for text in ["0.21", " 1.5", "-3", "+4", ".5", "1_000", "inf", "Infinity", "\u0663"]:
        assert typed(text.encode()).number == float(text), text
    nan = typed(b"nan").number
    assert nan is not None and nan != nan


def test_pysnmp_values_read_as_gufo_snmp_gives_them() -> None:
    """The pysnmp fallback hands over the same raw values as gufo-snmp: ints, bytes, text."""
    assert raw(rfc1902.TimeTicks(12345)) == 12345
    assert raw(rfc1902.Counter64(2**40)) == 2**40
    assert raw(rfc1902.IpAddress("10.0.0.1")) == "10.0.0.1"
    assert raw(rfc1902.OctetString(b"\x00\x1b\xff")) == b"\x00\x1b\xff"
    assert raw(rfc1902.ObjectName("1.3.6.1")) == "1.3.6.1"


def test_a_rate_needs_a_declared_counter_type() -> None:
    """A profile that takes a rate over a column without `type: counter32|counter64` is
    rejected at load: the agent's answer does not say whether a drop is a wrap or a reset."""
    with pytest.raises(ValueError, match="type: counter32"):
        Table(
            name="t",
            columns=[Column(oid="1.2", metric="octets_total")],
            derived=[Derived(metric="octets_per_second", rate=["octets_total"])],
        )
