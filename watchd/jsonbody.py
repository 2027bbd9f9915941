"""Parsing JSON that arrives from outside (API bodies, MQTT payloads) without the ways Python's
parser can fail other than with JSONDecodeError: bytes that are not UTF-8, nesting deep enough
for a RecursionError, integers past Python's int-string limit (a ValueError), and `NaN`/
`Infinity`, which Python takes but are not JSON. Each is a JsonInputError with a reason."""

from __future__ import annotations

import json
from typing import Any

MAX_INT_DIGITS = 40  # far more than any id, time or count; Python itself stops at 4300


class JsonInputError(ValueError):
    """A body is not acceptable JSON; `reason` says why, as a phrase ("nested too deeply")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonInputError(
            f"it has an integer of {digits} digits; at most {MAX_INT_DIGITS} are accepted"
        )
    return int(text)


def loads(body: bytes | str, *, constants: bool = False) -> Any:
    """`body` parsed as JSON, or JsonInputError. `constants` lets `NaN` and `Infinity` through
    (for callers that refuse them per field, naming the field)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"it is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    hooks: dict[str, Any] = {"parse_int": _bounded_int}
    if not constants:
        hooks["parse_constant"] = _no_constant
    try:
        return json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        raise JsonInputError(str(exc)) from None  # "Expecting value: line 1 column 13 (char 12)"
    except RecursionError:
        raise JsonInputError("it is nested too deeply") from None
