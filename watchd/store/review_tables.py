"""Post-incident reviews and their actions (migration 0014): one review per incident or
problem, its corrective and preventive actions each with an owner, a due date and a done flag."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    case,
    func,
    select,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.tables import metadata

_BigId = BigInteger().with_variant(Integer, "sqlite")

reviews = Table(
    "reviews",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    # Exactly one of the two is set; each incident and each problem has at most one review.
    Column("incident_id", _BigId, ForeignKey("incidents.id"), nullable=True, unique=True),
    Column("problem_id", _BigId, ForeignKey("problems.id"), nullable=True, unique=True),
    Column("title", Text, nullable=False),
    Column("impact", Text, nullable=False, server_default=""),
    Column("cause", Text, nullable=False, server_default=""),
    # [{"time": epoch seconds, "text": ...}], filled from the incident's timeline at creation.
    Column("timeline", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(), nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("updated_by", String(), nullable=False),
    # Raised by every edit (migration 0017): an edit that names the version it was read at is
    # refused once another edit came in between (watchd.incidents.reviews.ReviewChanged).
    Column("version", Integer, nullable=False, server_default="1"),
    Index("ix_reviews_created_at", "created_at"),
)

review_actions = Table(
    "review_actions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("review_id", _BigId, ForeignKey("reviews.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "corrective" or "preventive"
    Column("text", Text, nullable=False),
    Column("owner", String(), nullable=False),
    Column("due", Double, nullable=False),
    Column("done", Boolean, nullable=False),
    Column("done_at", Double, nullable=True),
    Column("done_by", String(), nullable=True),
    Column("created_at", Double, nullable=False),
    Index("ix_review_actions_review", "review_id"),
    Index("ix_review_actions_done_due", "done", "due"),
)


async def overdue_actions(conn: AsyncConnection, now: float) -> list[dict[str, Any]]:
    """Review actions not done whose due date is before `now`, the longest overdue first,
    each with its review's title and incident or problem."""
    rows = await conn.execute(
        select(
            review_actions,
            reviews.c.title.label("review_title"),
            reviews.c.incident_id,
            reviews.c.problem_id,
        )
        .select_from(review_actions.join(reviews, reviews.c.id == review_actions.c.review_id))
        .where(review_actions.c.done.is_(False), review_actions.c.due < now)
        .order_by(review_actions.c.due, review_actions.c.id)
    )
    return [{**action_json(r._mapping), **_about(r._mapping)} for r in rows]


async def reviews_started(conn: AsyncConnection, start: float, end: float) -> list[dict[str, Any]]:
    """Reviews started in [start, end), oldest first, with how many actions each has and how
    many of them are done."""
    done = func.sum(case((review_actions.c.done.is_(True), 1), else_=0))
    rows = await conn.execute(
        select(
            reviews.c.id,
            reviews.c.title.label("review_title"),
            reviews.c.incident_id,
            reviews.c.problem_id,
            reviews.c.created_at,
            reviews.c.cause,
            func.count(review_actions.c.id).label("actions"),
            done.label("done"),
        )
        .select_from(reviews.outerjoin(review_actions, review_actions.c.review_id == reviews.c.id))
        .where(reviews.c.created_at >= start, reviews.c.created_at < end)
        .group_by(reviews.c.id)
        .order_by(reviews.c.created_at, reviews.c.id)
    )
    return [
        {
            "id": r.id,
            **_about(r._mapping),
            "created_at": r.created_at,
            "cause": r.cause,
            "actions": r.actions,
            "actions_done": int(r.done or 0),
        }
        for r in rows
    ]


def action_json(row: RowMapping) -> dict[str, Any]:
    """A review action as the API shows it."""
    return {
        "id": row["id"],
        "review_id": row["review_id"],
        "kind": row["kind"],
        "text": row["text"],
        "owner": row["owner"],
        "due": row["due"],
        "done": bool(row["done"]),
        "done_at": row["done_at"],
        "done_by": row["done_by"],
    }


def _about(row: RowMapping) -> dict[str, Any]:
    return {
        "review_title": row["review_title"],
        "incident_id": row["incident_id"],
        "problem_id": row["problem_id"],
    }
