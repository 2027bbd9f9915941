"""Alert fingerprints (watchd.model.fingerprint): stable values, kept in running sites' stores."""

from __future__ import annotations

import sys

import pytest

from watchd.model import fingerprint

# Values computed by the implementation of 3b1ebe3 (sha256 of json's compact encoding of the
# sorted pairs). Stores and idempotency keys of running sites hold them: they must not change.
KNOWN = [
    (
        {"alertname": "HostDown", "instance": "web1.example.net:9100", "job": "node"}
        | {"severity": "critical"},
        "dcb2e3ce75789672",
    ),
    ({"alertname": 'Quote"Back\\slash', "summary": "line\nbreak\ttab\x01\x7f"}, "57adac055af3243b"),
    ({"alertname": "磁盘满", "item": "größe-é", "emoji": "😀\u2028\u2029"}, "cf1bfea7b93a1ada"),
    ({"a": ""}, "eea2eae09d8d146b"),
    ({}, "4f53cda18c2baa0c"),
]


@pytest.mark.parametrize(("labels", "expected"), KNOWN)
def test_fingerprints_of_known_label_sets_are_unchanged(
    labels: dict[str, str], expected: str
) -> None:
    """Quotes, backslashes, control characters, CJK, emoji and line separators hash as before."""
    assert fingerprint(labels) == expected


def test_the_order_of_the_labels_does_not_matter() -> None:
    """A sender may list the labels in any order: the same label set, the same fingerprint."""
    labels = KNOWN[0][0]
    assert fingerprint(dict(reversed(labels.items()))) == fingerprint(labels) == KNOWN[0][1]


def test_a_fingerprinted_label_value_is_freed_with_its_alert() -> None:
    """Nothing keeps the labels a fingerprint was made of: a cache of label sets kept a few
    objects from every part of an alert storm and so its memory after the alerts resolved."""
    value = "".join(["web1.example.net", ":9100"])  # a new string, as parsed from a request
    labels = {"alertname": "HostDown", "instance": value}
    fingerprint(labels)
    del labels
    assert sys.getrefcount(value) == 2  # `value` and getrefcount's own argument
