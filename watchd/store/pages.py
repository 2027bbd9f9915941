"""Bounded lists: a Page (limit, offset) of a query, and the total the whole list has, so an API
or a page can say "200 of 11,301" and offer the next ones instead of silently cutting off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page:
    """At most `limit` entries of a list, after its first `offset`."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


FIRST_PAGE = Page()


@dataclass(frozen=True, slots=True)
class Listed(Generic[T]):
    """One page of a list and how many entries the whole list has."""

    items: list[T]
    total: int


async def count(conn: AsyncConnection, query: Select[Any]) -> int:
    """How many rows `query` has (its order and any limit dropped)."""
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int((await conn.execute(counted)).scalar_one())


def sliced(query: Select[Any], page: Page) -> Select[Any]:
    """`query` cut to `page` (the query must have a stable order)."""
    return query.limit(page.limit).offset(page.offset)
