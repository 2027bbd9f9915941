"""JSON from outside (watchd.jsonbody): every way Python's parser can fail is a JsonInputError."""

from __future__ import annotations

import math

import pytest

from watchd.jsonbody import JsonInputError, loads


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": "\xff"}', "not UTF-8"),
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "5000 digits"),
        ('{"a": -' + "9" * 41 + "}", "41 digits"),
        ('{"a": Infinity}', "Infinity is not a JSON number"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": }', "Expecting value: line 1 column 7"),
    ],
)
def test_bad_json_is_one_error_with_a_reason(body: bytes | str, reason: str) -> None:
    """Bytes that are not UTF-8, deep nesting, huge integers, NaN/Infinity and syntax errors
    all raise JsonInputError saying which."""
    with pytest.raises(JsonInputError) as refused:
        loads(body)
    assert reason in refused.value.reason


def test_constants_pass_when_asked_and_good_json_parses() -> None:
    """With constants=True NaN and Infinity parse (the caller refuses them per field); 40-digit
    integers and ordinary JSON parse as usual."""
    assert math.isinf(loads('{"a": Infinity}', constants=True)["a"])
    assert loads(b'{"a": [1, "x", ' + b"9" * 40 + b"]}") == {"a": [1, "x", int("9" * 40)]}
