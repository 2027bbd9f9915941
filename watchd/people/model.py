"""Value types of on-call: a stored override and a resolved shift (epoch seconds, UTC)."""

from __future__ import annotations

from dataclasses import dataclass

OVERRIDE_LAYER = "override"  # the `layer` of a shift that an override made


@dataclass(frozen=True, slots=True)
class Override:
    """`user` takes `schedule` over from `start` to `end`, recorded with who did it and why."""

    id: int
    schedule: str
    user: str
    start: float
    end: float
    author: str
    reason: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Shift:
    """`user` is on call from `start` to `end` through `layer` (a layer name or "override")."""

    user: str
    start: float
    end: float
    layer: str
