"""Post-incident reviews (复盘): what happened, what it did to users, why, and what is done so it
does not happen again.

A review belongs to one incident or one problem (at most one each). It starts from a template:
its timeline is filled in from the incident's timeline (for a problem, from the timelines of
its incidents), impact and cause are empty, and actions are added as they are agreed, each
corrective or preventive, with an owner, a due date and a done flag. Every field stays editable;
an action not done by its due date is overdue (the monthly report lists those).

Every edit (of the review or of an action) raises the review's `version`. An edit may name the
version it was read at (`expected`): when another edit came in between, it is refused with
ReviewChanged, so two people editing one review never silently undo each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store import review_tables as review_store
from watchd.store.incident_tables import incident_events as ev
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import problems as prob
from watchd.store.pages import Listed, Page, count, sliced
from watchd.store.review_tables import action_json
from watchd.store.review_tables import review_actions as act
from watchd.store.review_tables import reviews as rev

ACTION_KINDS = ("corrective", "preventive")
# Limits that keep one review a document people read, and a request a bounded amount of work.
MAX_TEXT = 20_000  # impact, cause
MAX_LINE = 2_000  # a title, an action's text, a timeline entry
MAX_NAME = 200  # an owner, an actor
MAX_TIMELINE = 1_000  # entries; a longer incident timeline keeps its first and last ones
MAX_ACTIONS = 200  # per review


class ReviewNotFound(LookupError):
    """There is no review (or action) `ident` of that `what`."""

    def __init__(self, what: str, ident: int) -> None:
        super().__init__(f"There is no {what} {ident}.")
        self.what = what
        self.ident = ident


class ReviewExists(ValueError):
    """The incident or problem has a review already (`review_id`, None when another writer
    started it at the same moment)."""

    def __init__(self, target: str, target_id: int, review_id: int | None) -> None:
        which = f": review {review_id}" if review_id is not None else ""
        super().__init__(f"The {target} {target_id} has a review already{which}.")
        self.target = target
        self.target_id = target_id
        self.review_id = review_id


class ReviewChanged(ValueError):
    """The review was edited since the version the edit was made from."""

    def __init__(self, review_id: int, expected: int, current: int, by: str) -> None:
        super().__init__(
            f"Review {review_id} was changed by {by} since you read it (your version {expected}, "
            f"now {current}): reload it and make your change again."
        )
        self.review_id = review_id
        self.expected = expected
        self.current = current
        self.by = by


class ReviewInvalid(ValueError):
    """A field of a review or action is not acceptable; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}.")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """What a review is about: an incident or a problem."""

    kind: str  # "incident" or "problem"
    id: int

    @property
    def column(self) -> str:
        return f"{self.kind}_id"


@dataclass(frozen=True, slots=True)
class ActionInput:
    """A corrective or preventive action as given by a person."""

    kind: str
    text: str
    owner: str
    due: float


async def create_review(
    conn: AsyncConnection,
    target: Target,
    *,
    by: str,
    now: float,
    impact: str = "",
    cause: str = "",
    actions: Sequence[ActionInput] = (),
) -> dict[str, Any]:
    """Start the review of an incident or problem from its template (title, timeline from the
    incident events); ReviewNotFound for a target that does not exist, ReviewExists when it has
    a review already."""
    _check_text("impact", impact, MAX_TEXT)
    _check_text("cause", cause, MAX_TEXT)
    if len(actions) > MAX_ACTIONS:
        raise ReviewInvalid("actions", f"at most {MAX_ACTIONS} actions, got {len(actions)}")
    for i, action in enumerate(actions):
        _check_action(f"actions[{i}]", action)
    title, timeline = await _template(conn, target)
    existing = await _review_of(conn, target)
    if existing is not None:
        raise ReviewExists(target.kind, target.id, existing)
    values = {
        target.column: target.id,
        "title": title[:MAX_LINE],
        "impact": impact,
        "cause": cause,
        "timeline": timeline,
        "created_at": now,
        "created_by": by,
        "updated_at": now,
        "updated_by": by,
    }
    try:
        review_id = (
            await conn.execute(insert(rev).values(values).returning(rev.c.id))
        ).scalar_one()
    except IntegrityError as exc:  # another writer started it between our read and insert
        raise ReviewExists(target.kind, target.id, None) from exc
    for action in actions:
        await _insert_action(conn, review_id, action, now)
    return await get_review(conn, review_id)


async def get_review(conn: AsyncConnection, review_id: int) -> dict[str, Any]:
    """One review with its actions (ReviewNotFound if there is none)."""
    row = (await conn.execute(select(rev).where(rev.c.id == review_id))).first()
    if row is None:
        raise ReviewNotFound("review", review_id)
    actions = await conn.execute(select(act).where(act.c.review_id == review_id).order_by(act.c.id))
    return _review_json(row._mapping, [action_json(a._mapping) for a in actions])


async def review_of(conn: AsyncConnection, target: Target) -> dict[str, Any]:
    """The review of an incident or problem (ReviewNotFound if it has none)."""
    review_id = await _review_of(conn, target)
    if review_id is None:
        raise ReviewNotFound(f"review of {target.kind}", target.id)
    return await get_review(conn, review_id)


async def list_reviews(
    conn: AsyncConnection,
    *,
    since: float | None = None,
    until: float | None = None,
    page: Page | None = None,
) -> Listed[dict[str, Any]]:
    """Reviews started in [since, until), newest first, each with its actions."""
    query: Select[Any] = select(rev.c.id)
    if since is not None:
        query = query.where(rev.c.created_at >= since)
    if until is not None:
        query = query.where(rev.c.created_at < until)
    query = query.order_by(rev.c.created_at.desc(), rev.c.id.desc())
    ids = list((await conn.execute(query if page is None else sliced(query, page))).scalars())
    total = len(ids) if page is None else await count(conn, query)
    return Listed([await get_review(conn, review_id) for review_id in ids], total)


async def edit_review(
    conn: AsyncConnection,
    review_id: int,
    changes: Mapping[str, Any],
    *,
    by: str,
    now: float,
    expected: int | None = None,
) -> dict[str, Any]:
    """Change a review's title, impact, cause or timeline (a list of {time, text}); the keys
    not in `changes` keep their value. ReviewChanged when `expected` is not its version."""
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "title":
            _check_text("title", value, MAX_LINE, empty=False)
        elif key in ("impact", "cause"):
            _check_text(key, value, MAX_TEXT)
        elif key == "timeline":
            value = _checked_timeline(value)
        else:
            raise ReviewInvalid(key, "not a field of a review")
        values[key] = value
    await _edited(conn, review_id, expected, by=by, now=now, **values)
    return await get_review(conn, review_id)


async def add_action(
    conn: AsyncConnection,
    review_id: int,
    action: ActionInput,
    *,
    by: str,
    now: float,
    expected: int | None = None,
) -> dict[str, Any]:
    """Add a corrective or preventive action to a review; the review, with it (ReviewChanged
    when `expected` is not its version)."""
    _check_action("action", action)
    await _edited(conn, review_id, expected, by=by, now=now)
    held = await conn.execute(
        select(func.count()).select_from(act).where(act.c.review_id == review_id)
    )
    if held.scalar_one() >= MAX_ACTIONS:
        raise ReviewInvalid("action", f"a review holds at most {MAX_ACTIONS} actions")
    await _insert_action(conn, review_id, action, now)
    return await get_review(conn, review_id)


async def edit_action(
    conn: AsyncConnection,
    review_id: int,
    action_id: int,
    changes: Mapping[str, Any],
    *,
    by: str,
    now: float,
    expected: int | None = None,
) -> dict[str, Any]:
    """Change an action's kind, text, owner, due date or done flag (done records who and
    when); the review, with it (ReviewChanged when `expected` is not its version)."""
    row = (
        await conn.execute(select(act).where(act.c.id == action_id, act.c.review_id == review_id))
    ).first()
    if row is None:
        raise ReviewNotFound(f"action of review {review_id}", action_id)
    merged = ActionInput(
        kind=changes.get("kind", row.kind),
        text=changes.get("text", row.text),
        owner=changes.get("owner", row.owner),
        due=changes.get("due", row.due),
    )
    _check_action("action", merged)
    values: dict[str, Any] = {
        "kind": merged.kind,
        "text": merged.text,
        "owner": merged.owner,
        "due": merged.due,
    }
    done = changes.get("done")
    if done is not None and bool(done) != row.done:
        values |= (
            {"done": True, "done_at": now, "done_by": by}
            if done
            else {
                "done": False,
                "done_at": None,
                "done_by": None,
            }
        )
    await _edited(conn, review_id, expected, by=by, now=now)
    await conn.execute(update(act).where(act.c.id == action_id).values(values))
    return await get_review(conn, review_id)


async def overdue_actions(conn: AsyncConnection, now: float) -> list[dict[str, Any]]:
    """Actions not done whose due date has passed, the longest overdue first, each with its
    review's title and incident or problem."""
    return await review_store.overdue_actions(conn, now)


async def _edited(
    conn: AsyncConnection,
    review_id: int,
    expected: int | None,
    *,
    by: str,
    now: float,
    **values: Any,
) -> None:
    """Record an edit of the review (with `values` of its own columns) and raise its version,
    in one statement that matches only the `expected` version when one is given: of two edits
    made from the same version, the second finds none and is refused, whatever the timing."""
    query = update(rev).where(rev.c.id == review_id)
    if expected is not None:
        query = query.where(rev.c.version == expected)
    values |= {"updated_at": now, "updated_by": by, "version": rev.c.version + 1}
    if (await conn.execute(query.values(values))).rowcount:
        return
    row = (
        await conn.execute(select(rev.c.version, rev.c.updated_by).where(rev.c.id == review_id))
    ).first()
    if row is None:
        raise ReviewNotFound("review", review_id)
    raise ReviewChanged(review_id, expected or 0, row.version, row.updated_by)


async def _review_of(conn: AsyncConnection, target: Target) -> int | None:
    found = await conn.execute(select(rev.c.id).where(rev.c[target.column] == target.id))
    return found.scalar_one_or_none()


async def _template(conn: AsyncConnection, target: Target) -> tuple[str, list[dict[str, Any]]]:
    """The title and the timeline a new review starts with."""
    table = inc if target.kind == "incident" else prob
    row = (await conn.execute(select(table.c.title).where(table.c.id == target.id))).first()
    if row is None:
        raise ReviewNotFound(target.kind, target.id)
    if target.kind == "incident":
        incident_ids = [target.id]
    else:
        incident_ids = list(
            (
                await conn.execute(
                    select(inc.c.id).where(inc.c.problem_id == target.id).order_by(inc.c.id)
                )
            ).scalars()
        )
    events = await conn.execute(
        select(ev.c.incident_id, ev.c.time, ev.c.kind, ev.c.actor, ev.c.detail)
        .where(ev.c.incident_id.in_(incident_ids))
        .order_by(ev.c.time, ev.c.incident_id, ev.c.seq)
    )
    prefix = target.kind == "problem"
    timeline = [
        {"time": e.time, "text": _event_text(e.incident_id, e.kind, e.actor, e.detail, prefix)}
        for e in events
    ]
    if len(timeline) > MAX_TIMELINE:  # the start and the end tell the story; say what is left out
        half = MAX_TIMELINE // 2
        gap = {"time": timeline[half]["time"], "text": f"({len(timeline) - 2 * half} events)"}
        timeline = [*timeline[:half], gap, *timeline[-half + 1 :]]
    return f"Review: {row.title}", timeline


def _event_text(incident_id: int, kind: str, actor: str, detail: Any, with_incident: bool) -> str:
    """One timeline event as a line: "acknowledged by alice: on it"."""
    text = kind.replace("_", " ")
    if actor and actor != "watchd":
        text += f" by {actor}"
    if isinstance(detail, Mapping) and detail:
        shown = ", ".join(f"{k} {_short(v)}" for k, v in sorted(detail.items()))
        text += f": {shown}"
    if with_incident:
        text = f"incident {incident_id}: {text}"
    return text[:MAX_LINE]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _check_text(field: str, value: Any, limit: int, *, empty: bool = True) -> None:
    if not isinstance(value, str):
        raise ReviewInvalid(field, f"expected text, got {type(value).__name__}")
    if not empty and not value.strip():
        raise ReviewInvalid(field, "expected some text")
    if len(value) > limit:
        raise ReviewInvalid(field, f"at most {limit} characters, got {len(value)}")


def _check_action(field: str, action: ActionInput) -> None:
    if action.kind not in ACTION_KINDS:
        raise ReviewInvalid(
            f"{field}.kind", f"expected corrective or preventive, got {action.kind!r}"
        )
    _check_text(f"{field}.text", action.text, MAX_LINE, empty=False)
    _check_text(f"{field}.owner", action.owner, MAX_NAME, empty=False)
    if isinstance(action.due, bool) or not isinstance(action.due, int | float):
        raise ReviewInvalid(f"{field}.due", "expected a time")


def _checked_timeline(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ReviewInvalid("timeline", "expected a list of {time, text}")
    if len(value) > MAX_TIMELINE + 1:
        raise ReviewInvalid("timeline", f"at most {MAX_TIMELINE} entries, got {len(value)}")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping) or set(entry) != {"time", "text"}:
            raise ReviewInvalid(f"timeline[{i}]", "expected {time, text}")
        if isinstance(entry["time"], bool) or not isinstance(entry["time"], int | float):
            raise ReviewInvalid(f"timeline[{i}].time", "expected a time")
        _check_text(f"timeline[{i}].text", entry["text"], MAX_LINE)
        out.append({"time": float(entry["time"]), "text": entry["text"]})
    return sorted(out, key=lambda e: e["time"])


async def _insert_action(
    conn: AsyncConnection, review_id: int, action: ActionInput, now: float
) -> None:
    await conn.execute(
        insert(act).values(
            review_id=review_id,
            kind=action.kind,
            text=action.text,
            owner=action.owner,
            due=float(action.due),
            done=False,
            created_at=now,
        )
    )


def _review_json(row: RowMapping, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "incident_id": row["incident_id"],
        "problem_id": row["problem_id"],
        "title": row["title"],
        "impact": row["impact"],
        "cause": row["cause"],
        "timeline": list(row["timeline"]),
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
        "version": row["version"],
        "actions": actions,
    }
