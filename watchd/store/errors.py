"""The one exception the store raises: what it was doing and why it failed."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


class StoreError(Exception):
    """A store operation failed; `operation` says what was tried, `reason` what went wrong."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"The store could not {operation}: {reason}")
        self.operation = operation
        self.reason = reason

    @classmethod
    def wrap(cls, operation: str, exc: BaseException) -> StoreError:
        """A StoreError for `exc`, keeping the driver's message but not the SQL and parameters
        SQLAlchemy appends (a batch's parameters would flood the log)."""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = str(cause).strip().splitlines()
        return cls(operation, lines[0] if lines else type(cause).__name__)
