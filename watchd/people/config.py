"""Config of people (DESIGN.md §5 People): users, teams and on-call schedules, as config as code.

    [[users]]                 name, display_name, timezone, locale, password_hash | password_file
    [[users.tokens]]          name, scopes, token_file | token_env (personal API tokens)
    [[users.contacts]]        name, receiver (a [[receivers]] name), address (per recipient)
    [[users.notify]]          severity = [...], contact, after
    [[teams]]                 name, members
    [[schedules]]             name, timezone, notify_handoff
    [[schedules.layers]]      name, users (rotation order), start (local), rotation, restrictions

The root config holds the three lists; `PeopleConfig` bundles them with lookups and the
problems no single key shows (duplicates, unknown users or receivers, overlapping
restrictions), which check-config reports with their key paths.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from watchd.configbase import ConfigProblem, Strict, TimeZone, duplicate_names
from watchd.durations import Duration
from watchd.i18n import Locale
from watchd.secrets import SecretRef

# Names appear in URLs (/api/v1/oncall/{schedule}) and on command lines: keep them plain.
NAME_PATTERN = r"^[a-z0-9_.-]+$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MINUTES_PER_WEEK = 7 * 1440
RESERVED_SCHEDULE = "override"  # `watchd oncall override` is the overrides' command


class ContactMethod(Strict):
    """One way to reach a user: a configured receiver and the address it delivers to for them
    (a mail address, a chat handle, a phone number for an SMS gateway webhook, an MQTT topic)."""

    name: str = Field(min_length=1)
    receiver: str = Field(min_length=1)
    address: str = Field(min_length=1, max_length=512)


class NotifyRule(Strict):
    """For pages of these severities (empty: every severity), use `contact` once the page is
    `after` old and still unacknowledged."""

    severity: list[str] = []
    contact: str = Field(min_length=1)
    after: Duration = 0.0

    def applies_to(self, severity: str) -> bool:
        """True when a page of this severity is covered by the rule."""
        return not self.severity or severity in self.severity


class UserToken(Strict):
    """A personal API token: a request bearing it acts as the user, with these scopes."""

    name: str = Field(min_length=1, max_length=64)
    scopes: list[Literal["read", "write", "ingest"]] = Field(min_length=1)
    token_file: Path | None = None
    token_env: str | None = None
    # Restricted to these teams: its write scope only acknowledges, resolves and comments on
    # incidents whose escalation policy pages one of them (watchd.incidents.reach).
    teams: list[str] = []

    @model_validator(mode="after")
    def _one_source(self) -> UserToken:
        if (self.token_file is None) == (self.token_env is None):
            raise ValueError("expected exactly one of 'token_file' or 'token_env'")
        return self

    def secret(self) -> SecretRef:
        """Where the token's value is read from."""
        return SecretRef(file=self.token_file, env=self.token_env)


class UserConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    display_name: str = ""
    timezone: TimeZone = "UTC"
    # The language of the dashboard once they sign in (None: their browser's, else [daemon]'s).
    locale: Locale | None = None
    contacts: list[ContactMethod] = []
    notify: list[NotifyRule] = []
    # Dashboard sign-in: an Argon2 hash from `watchd user hash-password`, in the config or in
    # a file (which may hold the password itself); never a plain password in config.toml.
    password_hash: str | None = None
    password_file: Path | None = None
    tokens: list[UserToken] = []

    @field_validator("password_hash")
    @classmethod
    def _hashed(cls, value: str | None) -> str | None:
        # The message never repeats the value: it may be a password pasted by mistake.
        if value is not None and not value.startswith(("$argon2id$", "$argon2i$", "$argon2d$")):
            raise ValueError(
                "expected an Argon2 hash from `watchd user hash-password` (never a plain "
                "password in the config; or use password_file)"
            )
        return value

    @model_validator(mode="after")
    def _one_password(self) -> UserConfig:
        if self.password_hash is not None and self.password_file is not None:
            raise ValueError("expected at most one of 'password_hash' or 'password_file'")
        return self

    def contact(self, name: str) -> ContactMethod | None:
        """The contact method called `name`, or None."""
        return next((c for c in self.contacts if c.name == name), None)

    def label(self) -> str:
        """How people read the user: "Alice Li (alice)", or the name alone."""
        return f"{self.display_name} ({self.name})" if self.display_name else self.name


class TeamConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    members: list[str] = []


def clock_minutes(text: str) -> int:
    """Minutes since local midnight of an "HH:MM" time ("24:00" is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Restriction(Strict):
    """When a layer is on duty: on these weekdays (local to the schedule) from `from` to `to`.
    A range whose `to` is not after its `from` runs over midnight into the next day; it belongs
    to the day it starts on. "00:00" to "24:00" is the whole day."""

    days: list[Weekday] = Field(default=list(WEEKDAYS), min_length=1)
    from_: str = Field(alias="from")
    to: str

    @field_validator("from_", "to")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"expected a local time like 09:00 or 24:00, got {value!r}")
        return value

    @field_validator("days")
    @classmethod
    def _distinct(cls, value: list[Weekday]) -> list[Weekday]:
        if len(set(value)) != len(value):
            raise ValueError(f"a day is listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Restriction:
        if self.from_ == "24:00":
            raise ValueError("'from' is a time of the day it starts on: 00:00 to 23:59")
        if self.from_ == self.to:
            raise ValueError(
                f"'from' and 'to' are the same time ({self.from_}); "
                "for the whole day write from = '00:00', to = '24:00'"
            )
        return self

    def week_ranges(self) -> Iterator[tuple[int, int]]:
        """The restriction as [start, end) minutes of a week from Monday 00:00; a range that
        runs past Sunday midnight is split in two."""
        start, end = clock_minutes(self.from_), clock_minutes(self.to)
        length = end - start if end > start else end + 1440 - start
        for day in self.days:
            a = WEEKDAYS.index(day) * 1440 + start
            b = a + length
            if b <= MINUTES_PER_WEEK:
                yield a, b
            else:
                yield a, MINUTES_PER_WEEK
                yield 0, b - MINUTES_PER_WEEK


class LayerConfig(Strict):
    """A rotation: `users` take turns, each for `rotation`, from `start` (a wall-clock time in
    the schedule's zone). Hand-offs stay at the same local time across DST changes: a daily
    09:00 hand-off is at 09:00 in winter and in summer. Outside its restrictions the layer
    has nobody on call, and the layers below it show through."""

    name: str = Field(pattern=NAME_PATTERN)
    users: list[str] = Field(min_length=1)
    start: datetime
    rotation: Duration = Field(ge=60.0)
    restrictions: list[Restriction] = []

    @field_validator("start")
    @classmethod
    def _local(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError(
                "expected a local time of the schedule without an offset, "
                f"like 2026-11-02T09:00 (got {value.isoformat()})"
            )
        if not 1970 <= value.year < 9000:  # hand-offs and look-aheads must stay dates
            raise ValueError(f"expected a time between 1970 and 9000, got {value.isoformat()}")
        return value


class ScheduleConfig(Strict):
    """Who is on call, layer by layer: where a later layer has someone on call, it wins."""

    name: str = Field(pattern=NAME_PATTERN)
    timezone: TimeZone = "UTC"
    layers: list[LayerConfig] = Field(min_length=1)
    # The person who comes on call gets a notice through the contact that would page them
    # first (watchd.notify.handoffs.notice_contact); false for schedules nobody should be told
    # about.
    notify_handoff: bool = True


class PeopleConfig(Strict):
    """The users, teams and schedules of the root config, with lookups by name."""

    users: list[UserConfig] = []
    teams: list[TeamConfig] = []
    schedules: list[ScheduleConfig] = []

    def user(self, name: str) -> UserConfig | None:
        """The user called `name`, or None."""
        return next((u for u in self.users if u.name == name), None)

    def team(self, name: str) -> TeamConfig | None:
        """The team called `name`, or None."""
        return next((t for t in self.teams if t.name == name), None)

    def schedule(self, name: str) -> ScheduleConfig | None:
        """The schedule called `name`, or None."""
        return next((s for s in self.schedules if s.name == name), None)

    def problems(self, receivers: Collection[str]) -> Iterator[ConfigProblem]:
        """Duplicate names, unknown users, contacts naming no configured receiver, notify
        rules naming no contact of their user, overlapping restrictions of one layer."""
        yield from duplicate_names("users", "user", self.users)
        yield from duplicate_names("teams", "team", self.teams)
        yield from duplicate_names("schedules", "schedule", self.schedules)
        users = {u.name for u in self.users}
        for i, user in enumerate(self.users):
            yield from _user_problems(f'users[{i}]("{user.name}")', user, receivers)
        team_names = {t.name for t in self.teams}
        for i, user in enumerate(self.users):
            for j, token in enumerate(user.tokens):
                for k, name in enumerate(token.teams):
                    if name not in team_names:
                        yield ConfigProblem(
                            f'users[{i}]("{user.name}").tokens[{j}]("{token.name}").teams[{k}]',
                            f'unknown team "{name}" (expected the name of a team in [[teams]])',
                        )
        for i, team in enumerate(self.teams):
            for j, member in enumerate(team.members):
                if member not in users:
                    yield _unknown_user(f'teams[{i}]("{team.name}").members[{j}]', member)
        for i, schedule in enumerate(self.schedules):
            where = f'schedules[{i}]("{schedule.name}")'
            if schedule.name == RESERVED_SCHEDULE:
                yield ConfigProblem(
                    f"{where}.name",
                    f'"{RESERVED_SCHEDULE}" is reserved (`watchd oncall override ...` manages '
                    "overrides); choose another name",
                )
            yield from duplicate_names(f"{where}.layers", "layer", schedule.layers)
            for j, layer in enumerate(schedule.layers):
                at = f'{where}.layers[{j}]("{layer.name}")'
                for k, name in enumerate(layer.users):
                    if name not in users:
                        yield _unknown_user(f"{at}.users[{k}]", name)
                yield from _overlaps(f"{at}.restrictions", layer.restrictions)


def _unknown_user(where: str, name: str) -> ConfigProblem:
    return ConfigProblem(where, f'unknown user "{name}" (expected the name of a user in [[users]])')


def _user_problems(
    where: str, user: UserConfig, receivers: Collection[str]
) -> Iterator[ConfigProblem]:
    seen: set[str] = set()
    for j, contact in enumerate(user.contacts):
        at = f'{where}.contacts[{j}]("{contact.name}")'
        if contact.name in seen:
            yield ConfigProblem(f"{at}.name", f'contact "{contact.name}" is defined twice')
        seen.add(contact.name)
        if contact.receiver not in receivers:
            known = ", ".join(f'"{r}"' for r in sorted(receivers)) or "none"
            yield ConfigProblem(
                f"{at}.receiver",
                f'unknown receiver "{contact.receiver}" (expected one of [[receivers]]: {known})',
            )
    for j, rule in enumerate(user.notify):
        if rule.contact not in seen:
            known = ", ".join(f'"{c.name}"' for c in user.contacts) or "none"
            yield ConfigProblem(
                f"{where}.notify[{j}].contact",
                f'unknown contact "{rule.contact}" (expected one of this user\'s contacts: {known})',
            )


def _overlaps(where: str, restrictions: Sequence[Restriction]) -> Iterator[ConfigProblem]:
    """Two ranges of one layer covering the same minute are a mistake: one of them means
    something else (a wrong day or hour), and the layer's shifts would be ambiguous to read."""
    ranges = sorted((a, b, i) for i, r in enumerate(restrictions) for a, b in r.week_ranges())
    reported: set[tuple[int, int]] = set()
    reach, owner = -1, -1  # the furthest end so far and the restriction it belongs to
    for a, b, i in ranges:
        if a < reach and (owner, i) not in reported:
            reported.add((owner, i))
            day, minute = divmod(a, 1440)
            first, second = sorted((owner, i))
            yield ConfigProblem(
                f"{where}[{second}]",
                f"overlaps restriction {first} (both cover {WEEKDAYS[day]} "
                f"{minute // 60:02d}:{minute % 60:02d}); a layer's ranges must not overlap",
            )
        if b > reach:
            reach, owner = b, i
