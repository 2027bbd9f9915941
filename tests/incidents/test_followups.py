"""Who counts as the person who acted, when follow-ups leave them out."""

from __future__ import annotations

from watchd.incidents.followups import is_actor


def test_the_actor_is_matched_by_user_name_however_the_timeline_names_them() -> None:
    """ "alice", "Alice Li (alice)", "Alice Li (alice) via token laptop" and an ack link's actor are alice; "alicea", "bob" and the system are not."""
    for actor in (
        "alice",
        "Alice Li (alice)",
        "Alice Li (alice) via token laptop",
        "Alice Li (alice) via ack link to slack",
    ):
        assert is_actor(actor, "alice"), actor
    for actor in ("alicea", "bob", "watchd", "", None, "Bob (bob) via ack link to alice"):
        assert not is_actor(actor, "alice"), actor
