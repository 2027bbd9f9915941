"""The JSON text the store writes into its JSON columns and how it reads it back (the
engine's json_serializer and json_deserializer).

pydantic-core's encoder (Rust, already a dependency through pydantic) writes the same values
as json.dumps, 3-4x faster: in an alert storm json.dumps of notification payloads, timeline
details and alert labels took about a tenth of the daemon's CPU. The text differs only in form
(no spaces, UTF-8 instead of \\u escapes). Its decoder reads the same values as json.loads
about twice as fast: the dispatcher decodes every notification payload it claims, and a
storm's scans the labels of every incident with a notification open.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic_core import PydanticSerializationError, from_json, to_json


def _encoder() -> Callable[[Any], bytes] | None:
    """pydantic-core's encoder when it writes NaN and Infinity as json.dumps does (it can since
    it has inf_nan_mode; older versions wrote null, which would change a stored value)."""
    try:
        encode = partial(to_json, inf_nan_mode="constants")
        keeps = encode([math.nan, math.inf, -math.inf]) == b"[NaN,Infinity,-Infinity]"
    except TypeError:  # no inf_nan_mode
        return None
    return encode if keeps else None


_ENCODE = _encoder()


def _decoder() -> Callable[[str | bytes], Any] | None:
    """pydantic-core's decoder when it reads escaped characters right: the one of pydantic 2.7
    (pydantic-core 2.18) read the escape of "Ü" as "Ã" and a control character, which would
    corrupt every label json.dumps wrote escaped; json.loads reads them there."""
    # Keys only in pydantic-core's string cache: values kept there one here, one there,
    # pin the memory of a whole storm (as in watchd.ingest.payloads; issue 19).
    decode = partial(from_json, allow_inf_nan=True, cache_strings="keys")
    try:
        right = decode('{"\\u00dc": "\\u4ea4\\ud83d\\udd25"}') == {"\u00dc": "\u4ea4\U0001f525"}
    except (TypeError, ValueError):
        return None
    return decode if right else None


_DECODE = _decoder()


def dumps(value: Any) -> str:
    """`value` as JSON text, with the values json.dumps accepts (NaN and Infinity included).

    What pydantic-core will not encode (a lone surrogate, which UTF-8 cannot hold; an object
    of no JSON type) goes to json.dumps, which escapes the one and refuses the other as before.
    """
    return encoded(value).decode()


def encoded(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON text, as `dumps` writes it: a body to send as it is."""
    if _ENCODE is not None:
        # try, not contextlib.suppress: its context manager cost three times the encoding of
        # a timeline event's detail (1.4 vs 0.5 us), and a storm encodes ~10 values per incident.
        try:
            return _ENCODE(value)
        except PydanticSerializationError:
            pass
    return json.dumps(value, separators=(",", ":")).encode()


def loads(text: str | bytes) -> Any:
    """The value of JSON `text`, as json.loads reads it (NaN and Infinity included).

    What pydantic-core will not decode (a lone surrogate escape, which json.loads keeps; a
    number beyond a float's range, which json.loads makes infinite) goes to json.loads, which
    also refuses what is not JSON as before.
    """
    if _DECODE is None:
        return json.loads(text)
    try:
        return _DECODE(text)
    except ValueError:
        return json.loads(text)
