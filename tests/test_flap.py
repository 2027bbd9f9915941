"""Flap detection's shared states: what many checks and rule series hold is one object."""

from __future__ import annotations

from watchd.flap import HISTORY, NO_FLAPS, FlapPolicy, FlapState, flap_state, record


def test_steady_histories_share_one_state_that_equals_a_fresh_one() -> None:
    """Two subjects recording the same steady level hold the same state at every step, equal
    to one made afresh; a restored steady history gets it too, and a changing one its own."""
    a = b = NO_FLAPS
    for n in range(1, HISTORY + 3):
        (a, _), (b, _) = record(a, 0, FlapPolicy()), record(b, 0, FlapPolicy())
        assert a is b
        assert a == FlapState((0,) * min(n, HISTORY), False, 0.0)
    assert flap_state((0,) * HISTORY, False, 0.0) is a
    changed, _ = record(a, 2, FlapPolicy())
    assert changed.percent > 0 and record(a, 2, FlapPolicy())[0] is not changed
