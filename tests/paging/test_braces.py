"""Brace patterns write large topologies in one line (watchd.paging.braces)."""

from __future__ import annotations

import pytest

from watchd.paging import braces


def test_a_range_keeps_its_zero_padding_and_a_list_its_order() -> None:
    """web{001..003} is web001 web002 web003; {b,a} is b then a."""
    assert braces.expand("web{001..003}/ping") == ["web001/ping", "web002/ping", "web003/ping"]
    assert braces.expand("{b,a}") == ["b", "a"]
    assert braces.expand("h{9..11}") == ["h9", "h10", "h11"]


def test_different_patterns_multiply_and_the_same_pattern_takes_one_value() -> None:
    """Two patterns give every combination; one pattern written twice stays in step."""
    assert braces.expand("{a,b}{1..2}") == ["a1", "a2", "b1", "b2"]
    alert = {"instance": "web{1..2}", "summary": "web{1..2} is down"}
    found = [braces.substitute_all(alert, b) for b in braces.bindings(braces.patterns(alert))]
    assert found == [
        {"instance": "web1", "summary": "web1 is down"},
        {"instance": "web2", "summary": "web2 is down"},
    ]


def test_braces_that_are_not_a_pattern_stay_as_they_are() -> None:
    """Matchers and single words in braces are text, not patterns."""
    assert braces.expand('{item="db1"}') == ['{item="db1"}']
    assert braces.expand("{word}") == ["{word}"]


def test_a_pattern_past_the_limit_is_refused() -> None:
    """A typo such as {1..10000000} is an error, not a process that runs out of memory."""
    with pytest.raises(braces.BraceError):
        braces.expand("h{1..10000000}")
