"""Config field types several collectors share."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from watchd.matchers import RegexError, compile_regex


def _compiles(value: str) -> str:
    try:
        compile_regex(value)
    except RegexError as exc:
        raise ValueError(str(exc)) from None
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression (RE2: matched in linear time, whatever the checked host answers),
checked to compile when the config is loaded."""
