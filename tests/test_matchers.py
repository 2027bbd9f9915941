"""Alertmanager-syntax matchers: parsing, anchored regexes, missing labels, errors."""

from __future__ import annotations

import pytest

from watchd.matchers import MatcherError, matches_all, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ('item=~"db-.*"', {"item": "db-1"}, True),
        ('item=~"db"', {"item": "db-1"}, False),  # anchored, as in Alertmanager
        ('alertname!="Watchdog"', {"alertname": "Watchdog"}, False),
        ('alertname!="Watchdog"', {}, True),
        ('team!~"ops|sre"', {"team": "dev"}, True),
        ('env=""', {}, True),  # a missing label is the empty string
        ("item=web1", {"item": "web1"}, True),
        ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    """Each operator matches as Alertmanager's does."""
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["", "=x", 'item=~"("', 'item="open', "9x=1"])
def test_bad_matchers_say_which_and_why(text: str) -> None:
    """A malformed matcher raises MatcherError carrying the text."""
    with pytest.raises(MatcherError) as caught:
        parse_matcher(text)
    assert caught.value.text == text


def test_all_matchers_must_match_and_str_round_trips() -> None:
    """A list matches when every matcher does; str() gives a string that parses back."""
    matchers = parse_matchers(['item="db1"', 'severity=~"crit.*"'])
    assert matches_all(matchers, {"item": "db1", "severity": "critical"})
    assert not matches_all(matchers, {"item": "db2", "severity": "critical"})
    assert [parse_matcher(str(m)) for m in matchers] == list(matchers)
