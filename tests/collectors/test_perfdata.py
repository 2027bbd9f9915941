"""Nagios plugin output and perfdata parsing, per the plugin guidelines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.perfdata import PerfValue, parse_output, parse_perfdata


def test_units_are_normalized_to_base_units() -> None:
    """ms/us become seconds and KB..TB become bytes (1024-based); % and c keep their value."""
    values, bad = parse_perfdata("a=250ms b=20us c=2KB d=1.5GB e=50% f=1234c g=3 h=1TB")
    assert bad == ()
    got = {v.label: (v.value, v.uom) for v in values}
    assert got["a"] == pytest.approx((0.25, "seconds"))
    assert got["b"] == pytest.approx((20e-6, "seconds"))
    assert got["c"] == (2048.0, "bytes")
    assert got["d"] == (1.5 * 1024**3, "bytes")
    assert got["e"] == (50.0, "percent")
    assert got["f"] == (1234.0, "counter")
    assert got["g"] == (3.0, "")
    assert got["h"] == (1024.0**4, "bytes")


def test_quoted_labels_with_spaces_and_escaped_quotes() -> None:
    """Quoted labels keep their spaces, and '' inside stands for one quote."""
    values, bad = parse_perfdata("'C:\\ used space'=10GB;20;30;0;40 'it''s'=1")
    assert bad == ()
    assert [v.label for v in values] == ["C:\\ used space", "it's"]
    assert values[0].maximum == 40 * 1024**3 and values[0].warn == f"{20 * 1024**3:g}"


def test_trailing_semicolons_and_ranges() -> None:
    """Empty trailing fields are fine; range thresholds stay as written."""
    [value], bad = parse_perfdata("load1=2.470;10:20;@5;0;")
    assert bad == ()
    assert value == PerfValue("load1", 2.47, "", "10:20", "@5", 0.0, None)


def test_undetermined_value_is_skipped_not_malformed() -> None:
    """A value of U gives no sample and no complaint."""
    assert parse_perfdata("rta=U;;;; pl=0%") == ((PerfValue("pl", 0.0, "percent"),), ())


def test_garbage_items_are_reported_and_skipped() -> None:
    """Unparseable items are listed as malformed and the good ones still come through."""
    values, bad = parse_perfdata("good=1s ==x bad=12zz toomany=1;2;3;4;5;6 time=5ms")
    assert [v.label for v in values] == ["good", "time"]
    assert len(bad) == 3


def test_perfdata_on_later_lines() -> None:
    """Long output lines are kept, and perfdata after a later '|' spans the following lines."""
    output = parse_output(
        "DISK OK - free space: / 3326 MB | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414\n"
    )
    assert output.text == "DISK OK - free space: / 3326 MB"
    assert output.long_text == "/ 15272 MB (77%);\n/boot 68 MB (69%); "
    assert [v.label for v in output.perfdata] == ["/", "/boot", "/home"]


@given(st.text(max_size=200))
def test_any_text_never_crashes(text: str) -> None:
    """Whatever a plugin prints, parsing returns instead of raising."""
    parse_output(text)
