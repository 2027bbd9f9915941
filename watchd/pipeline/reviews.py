"""Post-incident reviews as one object for the API, the CLI and the dashboard: each call is one
transaction on the store (watchd.incidents.reviews has the rules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.incidents import reviews
from watchd.incidents.reviews import ActionInput, Target
from watchd.store.engine import reading, transact
from watchd.store.pages import Listed, Page

T = TypeVar("T")


class ReviewService:
    """Start, read and edit reviews and their actions."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def now(self) -> float:
        return self._clock.now()

    async def start(
        self,
        target: Target,
        *,
        by: str,
        impact: str = "",
        cause: str = "",
        actions: Sequence[ActionInput] = (),
    ) -> dict[str, Any]:
        """Start the review of an incident or problem (ReviewExists, ReviewNotFound)."""
        return await self._write(
            "start a review",
            lambda conn: reviews.create_review(
                conn, target, by=by, now=self.now(), impact=impact, cause=cause, actions=actions
            ),
        )

    async def get(self, review_id: int) -> dict[str, Any]:
        async with reading(self._engine, "read a review", full_reason=True) as conn:
            return await reviews.get_review(conn, review_id)

    async def of(self, target: Target) -> dict[str, Any]:
        """The review of an incident or problem (ReviewNotFound if it has none)."""
        async with reading(self._engine, "read a review", full_reason=True) as conn:
            return await reviews.review_of(conn, target)

    async def page(
        self, *, since: float | None = None, until: float | None = None, page: Page | None = None
    ) -> Listed[dict[str, Any]]:
        async with reading(self._engine, "list reviews", full_reason=True) as conn:
            return await reviews.list_reviews(conn, since=since, until=until, page=page)

    async def edit(
        self,
        review_id: int,
        changes: Mapping[str, Any],
        *,
        by: str,
        expected: int | None = None,
    ) -> dict[str, Any]:
        """Edit a review; ReviewChanged when `expected` is not its version any more."""
        return await self._write(
            "edit a review",
            lambda conn: reviews.edit_review(
                conn, review_id, changes, by=by, now=self.now(), expected=expected
            ),
        )

    async def add_action(
        self, review_id: int, action: ActionInput, *, by: str, expected: int | None = None
    ) -> dict[str, Any]:
        return await self._write(
            "add a review action",
            lambda conn: reviews.add_action(
                conn, review_id, action, by=by, now=self.now(), expected=expected
            ),
        )

    async def edit_action(
        self,
        review_id: int,
        action_id: int,
        changes: Mapping[str, Any],
        *,
        by: str,
        expected: int | None = None,
    ) -> dict[str, Any]:
        return await self._write(
            "edit a review action",
            lambda conn: reviews.edit_action(
                conn, review_id, action_id, changes, by=by, now=self.now(), expected=expected
            ),
        )

    async def overdue(self) -> list[dict[str, Any]]:
        async with reading(self._engine, "list overdue actions", full_reason=True) as conn:
            return await reviews.overdue_actions(conn, self.now())

    async def _write(self, operation: str, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await transact(self._engine, operation, body, full_reason=True)
