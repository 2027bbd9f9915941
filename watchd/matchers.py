"""Label matchers in Alertmanager syntax: `severity="critical"`, `item=~"db-.*"`, `alertname!="Watchdog"`.

Silences, maintenance windows, inhibit rules, escalation policies and the notification router all
select alerts with these. As in Alertmanager, a regex must match the whole value (it is anchored),
and a label the alert lacks compares as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator

_OPS = ("=~", "!~", "!=", "=")
_SYNTAX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class MatcherError(ValueError):
    """A matcher string could not be parsed; `text` is the string, `reason` says why."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(
            f"The matcher {text!r} is not valid: {reason} "
            '(expected label="value", label!="value", label=~"regex" or label!~"regex").'
        )
        self.text = text
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: `label` `op` `value`, with the regex compiled for =~ and !~."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    # Alertmanager's regexes match the whole value; rule files' match anywhere (re.search).
    anchored: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.regex is not None
        search = self.regex.fullmatch if self.anchored else self.regex.search
        found = search(got) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{_quote(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher string; raise MatcherError naming the string and the problem."""
    found = _SYNTAX.match(text)
    if found is None:
        raise MatcherError(text, "it does not start with a label name followed by an operator")
    label, op, raw = found.groups()
    value = _unquote(text, raw)
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise MatcherError(text, f"the regular expression does not compile ({exc})") from exc
    return Matcher(label, op, value, regex)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse every matcher string (see parse_matcher)."""
    return tuple(parse_matcher(text) for text in texts)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches `labels` (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def _unquote(text: str, raw: str) -> str:
    if not raw.startswith('"'):
        if any(c in raw for c in '"{},'):
            raise MatcherError(text, "an unquoted value may not contain quotes, braces or commas")
        return raw
    if len(raw) < 2 or not raw.endswith('"') or (raw.endswith('\\"') and not raw.endswith('\\\\"')):
        raise MatcherError(text, "the quoted value is not closed with a double quote")
    out: list[str] = []
    escaped = False
    for ch in raw[1:-1]:
        if escaped:
            out.append({"n": "\n", "t": "\t"}.get(ch, ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise MatcherError(text, 'a double quote inside the value must be escaped as \\"')
        else:
            out.append(ch)
    return "".join(out)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _valid_matchers(value: list[str]) -> list[str]:
    try:
        parse_matchers(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from exc
    return value


Matchers = Annotated[list[str], AfterValidator(_valid_matchers)]
"""A config field of matcher strings, each checked at load (`MatcherError`'s sentence)."""
