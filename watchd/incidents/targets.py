"""Whom an escalation step pages, resolved when it fires: its users, the members of its teams
and whoever is on call in its schedules at that moment (overrides included), each person once,
through the contact methods their notification rules pick for the incident's severity.

    step ─► users + team members + on call (schedule, now, overrides) ─► people, in that order
    person ─► rules for the severity ─► (contact, after): now, or later if still unacknowledged

A person with no rule for the severity gets their first contact at once: a page is never lost
because a rule list left a severity out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.config import EscalationStep
from watchd.incidents.model import Page
from watchd.people.config import ContactMethod, PeopleConfig, UserConfig
from watchd.people.oncall import on_call
from watchd.people.overrides import active_overrides


@dataclass(frozen=True, slots=True)
class Contacting:
    """Page a person through one contact `after` seconds after the step (0: at once)."""

    page: Page
    after: float


@dataclass(frozen=True, slots=True)
class StepPeople:
    """What a step's people come to: the contacts to use, the schedules that had nobody on
    call, and the people no contact reaches (unknown since a reload, or without contacts)."""

    contacts: tuple[Contacting, ...]
    nobody_on_call: tuple[str, ...]
    unreachable: tuple[str, ...]


def page_of(user: UserConfig, contact: ContactMethod) -> Page:
    """The page to `user` through `contact`."""
    return Page(
        user.name, user.display_name or user.name, contact.name, contact.receiver, contact.address
    )


def contacts_for(user: UserConfig, severity: str) -> list[tuple[ContactMethod, float]]:
    """The user's contacts for a page of `severity`, each with its delay, in rule order."""
    rules = [rule for rule in user.notify if rule.applies_to(severity)]
    if not rules:
        return [(user.contacts[0], 0.0)] if user.contacts else []
    found = [(user.contact(rule.contact), rule.after) for rule in rules]
    return [(contact, after) for contact, after in found if contact is not None]


def step_people(
    step: EscalationStep,
    people: PeopleConfig,
    on_call_now: Mapping[str, Sequence[str]],
    severity: str,
) -> StepPeople:
    """Resolve a step's people given who is on call in its schedules (`on_call_now`)."""
    names: dict[str, None] = dict.fromkeys(step.users)
    for team_name in step.teams:
        team = people.team(team_name)
        names.update(dict.fromkeys(team.members if team is not None else ()))
    nobody = []
    for schedule in step.schedules:
        found = on_call_now.get(schedule, ())
        if not found:
            nobody.append(schedule)
        names.update(dict.fromkeys(found))
    contacts: list[Contacting] = []
    unreachable = []
    for name in names:
        user = people.user(name)
        chosen = contacts_for(user, severity) if user is not None else []
        if user is None or not chosen:
            unreachable.append(name)
            continue
        contacts += [Contacting(page_of(user, contact), after) for contact, after in chosen]
    return StepPeople(tuple(contacts), tuple(nobody), tuple(unreachable))


async def resolve_step(
    conn: AsyncConnection, step: EscalationStep, people: PeopleConfig, severity: str, at: float
) -> StepPeople:
    """step_people with the schedules' on-call people at `at`, their overrides read from the
    store."""
    on_call_now: dict[str, tuple[str, ...]] = {}
    for name in step.schedules:
        schedule = people.schedule(name)
        if schedule is not None:  # check-config refuses unknown schedules
            overrides = await active_overrides(conn, name, at, at + 1.0)
            on_call_now[name] = on_call(schedule, at, overrides)
    return step_people(step, people, on_call_now, severity)
