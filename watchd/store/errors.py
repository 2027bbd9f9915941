"""The one exception the store raises: what it was doing and why it failed."""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

# SQLSTATE classes of a statement refused for the values it holds: 22 data exception (such as
# 22021, a NUL in text), 23 integrity constraint violation.
_DATA_SQLSTATE_CLASSES = ("22", "23")


class StoreError(Exception):
    """A store operation failed; `operation` says what was tried, `reason` what went wrong.

    `outage` is False when the database refused the values of this one operation (a data or
    constraint error): trying again will fail the same way, while other data would be stored.
    Otherwise the store itself is failing (unreachable, locked, full, read-only) and a retry
    later may succeed.
    """

    def __init__(self, operation: str, reason: str, *, outage: bool = True) -> None:
        super().__init__(f"The store could not {operation}: {reason}")
        self.operation = operation
        self.reason = reason
        self.outage = outage

    @classmethod
    def wrap(cls, operation: str, exc: BaseException) -> StoreError:
        """A StoreError for `exc`, keeping the driver's message but not the SQL and parameters
        SQLAlchemy appends (a batch's parameters would flood the log)."""
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = str(cause).strip().splitlines()
        reason = lines[0] if lines else type(cause).__name__
        return cls(operation, reason, outage=not refused_data(exc))


def refused_data(exc: BaseException) -> bool:
    """Whether the database refused a statement for the values it holds (not an outage)."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _DATA_SQLSTATE_CLASSES
