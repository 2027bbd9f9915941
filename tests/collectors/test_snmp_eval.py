"""SNMP values to samples: profiles, rates, wraps and resets, without a network."""

from __future__ import annotations

import pytest
from pysnmp.proto import rfc1902

from collectors.snmp_eval import OwnOid, Plan, Rows
from collectors.snmp_profile import Column, Derived, Profile, Scalar, Table
from collectors.snmp_pysnmp import raw
from collectors.snmp_rates import RateTracker
from collectors.snmp_values import Raw, counter_bits, number, text
from watchd.model import Sample

UPTIME = "1.3.6.1.2.1.1.3.0"
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


def _poll(
    plan: Plan,
    rates: RateTracker,
    now: float,
    columns: dict[str, Rows],
    scalars: dict[str, Raw] | None = None,
) -> list[Sample]:
    samples, _ = plan.samples(scalars or {}, columns, {}, rates, now)
    return samples


def _if_columns(octets: int, high_speed: int = 0, name: bytes = b"ge-0/0/1") -> dict[str, Rows]:
    """One interface (index 7) as gufo-snmp gives its values: bytes and ints."""
    return {"1.1": {"7": name}, "1.2": {"7": octets}, "1.3": {"7": high_speed}, "1.4": {"7": 1000}}


def test_utilisation_falls_back_to_if_speed_when_high_speed_is_zero() -> None:
    """Utilisation divides by ifSpeed when ifHighSpeed is zero, as on slow links."""
    plan, rates = Plan([IF], [], UPTIME), RateTracker()
    _poll(plan, rates, 0.0, _if_columns(0), {UPTIME: 1000})
    samples = _poll(plan, rates, 10.0, _if_columns(125), {UPTIME: 2000})
    [util] = [s for s in samples if s.metric == "util_percent"]
    assert util.value == pytest.approx(125 / 10 * 8 / 1000 * 100)
    assert util.labels == {"ifIndex": "7", "ifName": "ge-0/0/1"}


def test_a_counter32_column_wraps_and_a_counter64_column_resets() -> None:
    """A column's declared counter type decides what a drop is: a Counter32 wrapped at 2**32,
    a Counter64 was reset (a small rate from zero); a counter served as a string is read as
    a number with no width, as a reset."""
    table = Table(
        name="c",
        columns=[
            Column(oid="2.1", metric="a_total", type="counter32"),
            Column(oid="2.2", metric="b_total", type="counter64"),
            Column(oid="2.3", metric="c_total", type="counter32"),
        ],
        derived=[
            Derived(metric="a_per_second", rate=["a_total"]),
            Derived(metric="b_per_second", rate=["b_total"]),
            Derived(metric="c_per_second", rate=["c_total"]),
        ],
    )
    plan, rates = Plan([Profile(name="c", tables=[table])], [], UPTIME), RateTracker()
    high = {"2.1": {"1": 2**32 - 10}, "2.2": {"1": 1000}, "2.3": {"1": b"1000"}}
    _poll(plan, rates, 0.0, high, {UPTIME: 100})
    low = {"2.1": {"1": 10}, "2.2": {"1": 100}, "2.3": {"1": b"100"}}
    got = {s.metric: s.value for s in _poll(plan, rates, 10.0, low, {UPTIME: 1100})}
    assert got["a_per_second"] == pytest.approx(2.0)
    assert got["b_per_second"] == pytest.approx(10.0)
    assert got["c_per_second"] == pytest.approx(10.0)


def test_the_uptime_oid_going_back_withholds_the_next_rates() -> None:
    """The uptime OID is read as TimeTicks: when it goes back the device restarted, and a
    Counter32 that went down then gives no rate (not a wrap) until the next poll."""
    table = Table(
        name="c",
        columns=[Column(oid="2.1", metric="a_total", type="counter32")],
        derived=[Derived(metric="a_per_second", rate=["a_total"])],
    )
    plan, rates = Plan([Profile(name="c", tables=[table])], [], UPTIME), RateTracker()

    def rate(now: float, uptime: int, counter: int) -> list[float]:
        samples = _poll(plan, rates, now, {"2.1": {"1": counter}}, {UPTIME: uptime})
        return [s.value for s in samples if s.metric == "a_per_second"]

    assert rate(0.0, 100_000, 5000) == []
    assert rate(10.0, 500, 100) == []  # restarted 5 s ago: no rate, no wrap
    assert rate(20.0, 1500, 200) == [pytest.approx(10.0)]


def test_a_rows_labels_follow_its_label_values() -> None:
    """A row keeps one labels mapping while its label values stay the same (its samples of
    every poll share it), and a renamed interface gets its new name at the next poll."""
    plan, rates = Plan([IF], [], UPTIME), RateTracker()
    first = _poll(plan, rates, 0.0, _if_columns(0))
    second = _poll(plan, rates, 10.0, _if_columns(10))
    renamed = _poll(plan, rates, 20.0, _if_columns(20, name=b"uplink"))
    assert first[0].labels is second[0].labels
    assert {s.labels["ifName"] for s in renamed} == {"uplink"}
    assert {s.labels["ifName"] for s in second} == {"ge-0/0/1"}


def test_scalars_info_and_own_oids() -> None:
    """Scalars become metrics (scaled) or info texts; a check's own OIDs come last, read as
    their declared type; absent ones give nothing."""
    profile = Profile(
        name="s",
        scalars=[
            Scalar(oid="1.5.0", info="sysName"),
            Scalar(oid="1.6.0", metric="load", scale=0.01),
            Scalar(oid="1.7.0", metric="absent"),
        ],
    )
    own = [OwnOid("9.1.0", "own_seconds", type="timeticks"), OwnOid("9.2.0", "own_missing")]
    plan = Plan([profile], own, UPTIME)
    scalars: dict[str, Raw] = {"1.5.0": b"core-1", "1.6.0": 150, "9.1.0": 250}
    samples, info = plan.samples(scalars, {}, {"item": "r1"}, RateTracker(), 0.0)
    assert info == {"sysName": "core-1"}
    assert [(s.metric, s.value) for s in samples] == [("load", 1.5), ("own_seconds", 2.5)]
    assert all(s.labels == {"item": "r1"} for s in samples)
    assert plan.scalar_oids == [UPTIME, "1.5.0", "1.6.0", "1.7.0", "9.1.0", "9.2.0"]


def _counters(
    rates: RateTracker,
    now: float,
    counters: dict[str, float],
    *,
    bits: int = 64,
    uptime: float | None = None,
    end: bool = True,
) -> dict[str, float | None]:
    """One poll of a table of one counter a row, each row's value as `counters` says; the
    rates it gives by row."""
    rates.begin(uptime, now)
    rates.table("t", 1)
    got: dict[str, float | None] = {}
    for row, value in counters.items():
        rates.row(row)
        got[row] = rates.rate(0, value, bits)
    if end:
        rates.end()
    return got


def test_counter64_going_down_is_a_reset_not_a_wrap() -> None:
    """A Counter64 that goes down gives a small rate from zero, never a 2**64 spike."""
    rates = RateTracker()
    assert _counters(rates, 0.0, {"k": 1000.0}) == {"k": None}
    assert _counters(rates, 10.0, {"k": 100.0}) == {"k": pytest.approx(10.0)}


def test_counter32_going_down_wraps() -> None:
    """A Counter32 that goes down while the device stays up wrapped at 2**32."""
    rates = RateTracker()
    _counters(rates, 0.0, {"k": 2**32 - 10.0}, bits=32, uptime=100.0)
    assert _counters(rates, 10.0, {"k": 10.0}, bits=32, uptime=110.0) == {"k": pytest.approx(2.0)}


def test_uptime_going_back_skips_the_rate_once() -> None:
    """After the device uptime goes back the next rate is withheld, then rates resume."""
    rates = RateTracker()
    _counters(rates, 0.0, {"k": 5000.0}, bits=32, uptime=1000.0)
    assert _counters(rates, 10.0, {"k": 100.0}, bits=32, uptime=5.0) == {"k": None}
    assert rates.restarted
    assert _counters(rates, 20.0, {"k": 200.0}, bits=32, uptime=15.0) == {"k": pytest.approx(10.0)}


def test_no_time_between_two_polls_gives_no_rate() -> None:
    """A poll taken at the same time as the previous one (or before) gives no rate rather
    than a division by zero or a negative rate."""
    rates = RateTracker()
    _counters(rates, 10.0, {"k": 100.0})
    assert _counters(rates, 10.0, {"k": 200.0}) == {"k": None}
    assert _counters(rates, 5.0, {"k": 300.0}) == {"k": None}


def test_a_poll_that_never_ended_gives_no_rates_against_the_next() -> None:
    """After a poll that raised midway the next poll gives no rate (as the first poll: no
    reading two polls old is used), then rates resume."""
    rates = RateTracker()
    _counters(rates, 0.0, {"a": 0.0, "b": 0.0})
    _counters(rates, 10.0, {"a": 100.0}, end=False)  # the poll stops before "b"
    assert _counters(rates, 20.0, {"b": 200.0}) == {"b": None}
    assert _counters(rates, 30.0, {"b": 300.0}) == {"b": pytest.approx(10.0)}


def _counter_plan(counters: dict[str, str], derived: list[Derived]) -> Plan:
    """A plan of one table whose columns 2.1, 2.2, ... are `counters` (metric: declared type)
    and whose derived samples are `derived`."""
    columns = [
        Column(oid=f"2.{n}", metric=metric, type=declared)
        for n, (metric, declared) in enumerate(counters.items(), start=1)
    ]
    return Plan(
        [Profile(name="c", tables=[Table(name="c", columns=columns, derived=derived)])], [], UPTIME
    )


def test_a_counter_a_poll_did_not_read_gives_no_rate_at_the_next() -> None:
    """A counter missing from one poll (a cell missing from its row, or its whole row: an
    interface that went away) gives no rate at its return rather than one against a reading
    two polls old; the counters read at both polls keep their rates."""
    plan = _counter_plan(
        {"a_total": "counter64", "b_total": "counter64"},
        [
            Derived(metric="a_per_second", rate=["a_total"]),
            Derived(metric="b_per_second", rate=["b_total"]),
        ],
    )
    rates = RateTracker()

    def poll(now: float, columns: dict[str, Rows]) -> set[tuple[str, str, float]]:
        samples = _poll(plan, rates, now, columns)
        return {(s.labels["index"], s.metric, s.value) for s in samples if "per_s" in s.metric}

    def both(value: int) -> dict[str, Rows]:
        return {"2.1": {"1": value, "2": value}, "2.2": {"1": value, "2": value}}

    assert poll(10.0, both(0)) == set()
    assert poll(20.0, {"2.1": {"1": 100}, "2.2": {}}) == {("1", "a_per_second", 10.0)}
    assert poll(30.0, both(200)) == {("1", "a_per_second", 10.0)}
    assert poll(40.0, both(300)) == {
        (row, metric, 10.0) for row in "12" for metric in ("a_per_second", "b_per_second")
    }


def test_derived_rates_take_the_first_counter_their_row_has() -> None:
    """Two derived samples over the same counters share its rate; a row without the first
    counter falls back to the next, whose rate starts at the second poll that reads it."""
    plan = _counter_plan(
        {"hc_total": "counter64", "low_total": "counter32"},
        [
            Derived(metric="per_second", rate=["hc_total", "low_total"]),
            Derived(metric="bits_per_second", rate=["hc_total", "low_total"], scale=8),
        ],
    )
    rates = RateTracker()

    def poll(now: float, hc: int | None, low: int) -> dict[str, float]:
        columns: dict[str, Rows] = {"2.1": {} if hc is None else {"1": hc}, "2.2": {"1": low}}
        return {s.metric: s.value for s in _poll(plan, rates, now, columns) if "per_s" in s.metric}

    assert poll(10.0, 0, 0) == {}
    assert poll(20.0, 1000, 50) == {"per_second": 100.0, "bits_per_second": 800.0}
    assert poll(30.0, None, 100) == {}  # the low counter was not read at the last poll
    assert poll(40.0, None, 150) == {"per_second": 5.0, "bits_per_second": 40.0}


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
    columns: dict[str, Rows] = {"2.5": {"1": 10}, "2.4": {"1": 4096}}
    samples = _poll(Plan([profile], [], UPTIME), RateTracker(), 0.0, columns)
    assert [(s.metric, s.value, dict(s.labels)) for s in samples] == [
        ("size_bytes", 40960.0, {"index": "1"})
    ]


def test_raw_values_read_as_declared() -> None:
    """Declared TimeTicks read as seconds, declared counters keep their width, octets read as
    text, a number in a string is a number."""
    assert number(12345, "timeticks") == 123.45 and text(12345, "timeticks") == "123.45"
    assert counter_bits(5, "counter32") == 32 and counter_bits(5, "counter64") == 64
    assert counter_bits(5, "") is None and number(5) == 5.0 and text(5) == "5"
    assert text("10.0.0.1") == "10.0.0.1" and number("10.0.0.1") is None
    assert text(b"\x00\x1b\xff") == "00:1b:ff"
    assert number(b"0.25") == 0.25


def test_an_octet_string_is_a_number_exactly_when_float_reads_it() -> None:
    """Names stay text without a number; what float() reads (blanks, signs, inf, nan, any
    Unicode decimal digits) is a number, as before names were told by their first character."""
    for value in ["eth0", "", " x", "e5", "abc 1", "_1", "Gi0/1"]:
        assert number(value.encode()) is None, value
    for value in ["0.21", " 1.5", "-3", "+4", ".5", "1_000", "inf", "Infinity", "\u0663"]:
        assert number(value.encode()) == float(value), value
    nan = number(b"nan")
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


def test_checks_of_one_profile_keep_their_own_rows() -> None:
    """Checks of the same profiles share its compiled plan but not their rows: each keeps its
    own interface names and rates, whatever the other polled in between."""
    first, second = Plan([IF], [], UPTIME), Plan([IF], [], UPTIME)
    first_rates, second_rates = RateTracker(), RateTracker()
    _poll(first, first_rates, 0.0, _if_columns(0, name=b"a"))
    _poll(second, second_rates, 0.0, _if_columns(0, name=b"b"))
    got_first = _poll(first, first_rates, 10.0, _if_columns(100, high_speed=1, name=b"a"))
    got_second = _poll(second, second_rates, 10.0, _if_columns(500, high_speed=1, name=b"b"))
    assert {s.labels["ifName"] for s in got_first} == {"a"}
    assert {s.labels["ifName"] for s in got_second} == {"b"}
    [util_first] = [s.value for s in got_first if s.metric == "util_percent"]
    [util_second] = [s.value for s in got_second if s.metric == "util_percent"]
    assert (util_first, util_second) == (
        pytest.approx(100 / 10 * 800 / 1e6),
        pytest.approx(500 / 10 * 800 / 1e6),
    )
