"""Label matchers in Alertmanager syntax: `severity="critical"`, `item=~"db-.*"`, `alertname!="Watchdog"`.

Silences, maintenance windows, inhibit rules, escalation policies and the notification router all
select alerts with these. As in Alertmanager, a regex must match the whole value (it is anchored),
and a label the alert lacks compares as the empty string.

Regexes are RE2 (google-re2), as Alertmanager's (Go regexp) are: matching takes time linear in
the value, so a silence posted through the API cannot stall the event loop with `(a+)+b`. RE2 has
no backreferences and no lookaround; such a pattern is refused when it is parsed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Protocol

import re2
from pydantic import AfterValidator

_OPS = ("=~", "!~", "!=", "=")
# Applied to the stripped text: no `\s*$` after a lazy group, which backtracks quadratically
# over a long run of spaces inside the value.
_SYNTAX = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error reaches the caller; RE2 would also print it to stderr


class CompiledRegex(Protocol):
    """A compiled RE2 pattern (the part of google-re2's `_Regexp` that watchd uses)."""

    @property
    def pattern(self) -> str: ...

    def fullmatch(self, text: str) -> object | None: ...

    def search(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """A pattern RE2 does not accept; `pattern` is the pattern, `reason` RE2's words."""

    def __init__(self, pattern: str, reason: str) -> None:
        hint = ""
        if _python_accepts(pattern):
            hint = " (RE2, as in Alertmanager, has no backreferences and no lookaround)"
        super().__init__(f"the regular expression {pattern!r} is not valid: {reason}{hint}")
        self.pattern = pattern
        self.reason = reason


def _python_accepts(pattern: str) -> bool:
    try:
        re.compile(pattern)  # compiling only: it is matching that backtracks
    except re.error:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> CompiledRegex:
    """`pattern` compiled with RE2 (linear-time matching); raise RegexError if RE2 refuses it.

    Cached: silences and inhibit rules are parsed again for every transaction.
    """
    try:
        compiled: CompiledRegex = re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        raise RegexError(pattern, reason) from None
    return compiled


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
    regex: CompiledRegex | None = field(default=None, compare=False, repr=False)
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


def split_matcher(text: str) -> tuple[str, str, str]:
    """The label, operator and value of a matcher string, its regex not compiled (a silence
    stored before matchers were RE2 still shows what it says); MatcherError for bad syntax."""
    stripped = text.strip()
    found = _SYNTAX.match(stripped)
    if found is None:
        raise MatcherError(text, "it does not start with a label name followed by an operator")
    label, op = found.groups()
    return label, op, _unquote(text, stripped[found.end() :].lstrip())


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher string; raise MatcherError naming the string and the problem."""
    label, op, value = split_matcher(text)
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = compile_regex(value)
        except RegexError as exc:
            raise MatcherError(text, str(exc)) from exc
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
