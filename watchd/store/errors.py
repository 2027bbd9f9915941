"""The one exception the store raises: what it was doing and why it failed."""

from __future__ import annotations


class StoreError(Exception):
    """A store operation failed; `operation` says what was tried, `reason` what went wrong."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"The store could not {operation}: {reason}")
        self.operation = operation
        self.reason = reason
