"""The dispatcher's planning, without a database: chain order per incident and receiver,
backoff and leases holding a chain, max_age expiry, muted routes, group timers, batch
receivers and the rows a pass takes per receiver."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

from tests.notify.conftest import NOW
from tests.notify.conftest import outbox_row as row
from watchd.notify.config import RouteConfig, TimeInterval
from watchd.notify.outbox import Group, Row
from watchd.notify.plan import KeptRoutes, Unit, earliest, scan, take, units
from watchd.notify.router import Router
from watchd.store.incident_tables import OutboxState


def router(intervals: tuple[TimeInterval, ...] = (), **route: Any) -> Router:
    return Router.from_config(RouteConfig.model_validate(route), ["hook", "mail"], intervals)


def plan(
    rows: list[Row],
    *,
    inflight: frozenset[int] = frozenset(),
    held: frozenset[tuple[int, str]] = frozenset(),
    **route: Any,
) -> Any:
    return scan(
        rows,
        NOW,
        max_age={"hook": 3600.0, "mail": 3600.0},
        router=router(**route),
        inflight=inflight,
        held=held,
    )


def ids(chains: Any) -> list[list[int]]:
    return [[r.id for r in chain] for _, chain in chains]


def test_rows_are_chained_per_incident_and_receiver_in_order() -> None:
    """Each (incident, receiver) pair is one chain of its rows in order; a group collects the
    chains of its incidents (here: one group per incident, the default)."""
    found = plan([row(1), row(2), row(3, incident=2), row(4, receiver="mail")])
    assert {k[0] for k in found.ready} == {"hook", "mail"}
    assert ids(found.ready[("hook", "root|incident:incident-1")]) == [[1, 2]]
    assert ids(found.ready[("hook", "root|incident:incident-2")]) == [[3]]
    assert ids(found.ready[("mail", "root|incident:incident-1")]) == [[4]]
    assert found.pairs == {(1, "hook"), (2, "hook"), (1, "mail")}
    assert found.expired == () and found.next_due is None


def test_a_backing_off_head_holds_its_chain_and_says_when_to_look_again() -> None:
    """Order per incident: nothing after a row that waits for its retry goes out before it."""
    found = plan([row(1, next_at=NOW + 30), row(2)])
    assert found.ready == {}
    assert found.next_due == NOW + 30


def test_due_rows_stop_at_the_first_row_not_due_or_in_flight() -> None:
    """A chain sends its leading run of due rows; rows after a busy one wait."""
    found = plan([row(1), row(2), row(3, next_at=NOW + 5), row(4)])
    assert ids(found.ready[("hook", "root|incident:incident-1")]) == [[1, 2]]
    found = plan([row(1), row(2), row(3)], inflight=frozenset({2}))
    assert ids(found.ready[("hook", "root|incident:incident-1")]) == [[1]]


def test_a_leased_head_holds_the_chain_until_its_lease_ends() -> None:
    """A row another delivery holds (lease running) blocks its chain; a dead lease does not."""
    leased = row(1, state=OutboxState.DELIVERING, claimed_until=NOW + 60)
    assert plan([leased, row(2)]).ready == {}
    dead = row(1, state=OutboxState.DELIVERING, claimed_until=NOW - 1)
    assert ids(plan([dead, row(2)]).ready[("hook", "root|incident:incident-1")]) == [[1, 2]]
    assert plan([row(1)], inflight=frozenset({1})).ready == {}


def test_a_chain_this_process_holds_unread_waits_and_stays_open() -> None:
    """Alone on its store, the dispatcher does not read the rows it holds (outbox.open_rows'
    free_at): their chains, given as `held`, wait behind them as behind a leased head, the
    other chains go, and the held pairs still count as open (the repeat check reads them)."""
    found = plan([row(2), row(3, incident=2)], held=frozenset({(1, "hook")}))
    assert ids(found.ready[("hook", "root|incident:incident-2")]) == [[3]]
    assert ("hook", "root|incident:incident-1") not in found.ready
    assert found.pairs == {(1, "hook"), (2, "hook")}
    alone = plan([], held=frozenset({(1, "mail")}))
    assert alone.ready == {} and alone.pairs == {(1, "mail")}


def test_rows_past_max_age_expire_unless_busy_and_the_rest_goes_on() -> None:
    """An old row is given up on (not when a delivery holds it); the chain continues after it."""
    old = row(1, created=NOW - 7200)
    found = plan([old, row(2)])
    assert [r.id for r in found.expired] == [1]
    assert ids(found.ready[("hook", "root|incident:incident-1")]) == [[2]]
    held = plan([old, row(2)], inflight=frozenset({1}))
    assert held.expired == () and held.ready == {}


def test_rows_for_a_receiver_no_longer_configured_wait() -> None:
    """Rows for a receiver missing from the config neither go out nor expire."""
    found = plan([row(1, receiver="gone", created=NOW - 7200)])
    assert found.ready == {} and found.expired == ()
    assert found.pairs == {(1, "gone")}


def test_a_muted_route_waits_until_it_is_unmuted() -> None:
    """Outside the route's active time interval nothing goes out; next_due is when it opens."""
    # NOW is 2027-01-15 08:00 UTC: the interval opens at 09:00.
    office = TimeInterval(name="office", times=["09:00-17:00"])
    found = scan(
        [row(1)],
        NOW,
        max_age={"hook": 3600.0},
        router=router((office,), active_time_intervals=["office"]),
        inflight=frozenset(),
    )
    assert found.ready == {}
    assert found.next_due == NOW + 3600


def test_a_storm_held_by_a_week_long_mute_is_scanned_at_once() -> None:
    """5,000 chains on a route muted for a week: the scan finds when the mute ends once for
    the route, not by stepping through the week a minute at a time for every chain (which
    took minutes per scan, while the storm's alerts were refused as the store timed out)."""
    always = TimeInterval(name="always")
    found = scan(
        [row(i, incident=i) for i in range(1, 5001)],
        NOW,
        max_age={"hook": 3600.0},
        router=router((always,), mute_time_intervals=["always"]),
        inflight=frozenset(),
    )
    assert found.ready == {}
    assert found.next_due is not None and found.next_due >= NOW + 7 * 86400


def test_group_wait_counts_from_the_groups_first_row() -> None:
    """A group's first notification waits group_wait from its oldest row."""
    found = plan([row(1, created=NOW - 10)], group_wait=30)
    got, due = units(found.ready, {}, NOW, batch=set())
    assert list(got) == [] and due == NOW + 20
    got, due = units(found.ready, {}, NOW + 20, batch=set())
    assert [[r.id for c in u.chains for r in c] for u in got] == [[1]]
    assert due is None


def test_group_interval_counts_from_the_last_send_of_a_firing_group() -> None:
    """Later notifications of a firing group wait group_interval from its last send; a
    resolved group starts over with group_wait."""
    found = plan([row(1, created=NOW - 100)], group_wait=30, group_interval=300)
    key = next(iter(found.ready))
    firing = {key: Group(first_at=NOW - 1000, last_sent_at=NOW - 60, firing=True)}
    got, due = units(found.ready, firing, NOW, batch=set())
    assert list(got) == [] and due == NOW + 240
    resolved = {key: Group(first_at=NOW - 1000, last_sent_at=NOW - 60, firing=False)}
    (unit,) = units(found.ready, resolved, NOW, batch=set())[0]
    assert unit.receiver == "hook" and unit.group == resolved[key]


def test_a_batch_receiver_gets_a_whole_group_the_others_a_chain_each() -> None:
    """With group_by, incidents share a group: a batch receiver (email) takes the group in one
    unit, a per-notification receiver one unit per incident's chain."""
    rows = [row(1, 1, "mail"), row(2, 2, "mail"), row(3, 1, "hook"), row(4, 2, "hook")]
    found = plan(rows, group_by=["alertname"])
    got = list(units(found.ready, {}, NOW, batch={"mail"})[0])
    by_receiver: dict[str, list[Unit]] = {}
    for unit in got:
        by_receiver.setdefault(unit.receiver, []).append(unit)
    assert [[[r.id for r in c] for c in u.chains] for u in by_receiver["mail"]] == [[[1], [2]]]
    assert [[[r.id for r in c] for c in u.chains] for u in by_receiver["hook"]] == [[[3]], [[4]]]
    assert {u.group_key for u in got} == {"root|alertname=down"}


def test_a_pass_takes_units_oldest_first_up_to_the_room_its_receiver_has() -> None:
    """A receiver takes units in planning order (oldest incidents first) while they fit in
    its room (rows it may still claim); one with no room takes none."""
    found = plan([row(i, incident=i) for i in range(1, 41)])
    got = list(units(found.ready, {}, NOW, batch=set())[0])
    taken = take(got, {"hook": 25})
    assert [r.id for u in taken["hook"] for c in u.chains for r in c] == list(range(1, 26))
    assert take(got, {"hook": 0}) == {}
    assert take(got, {}) == {}


def test_a_pass_makes_only_the_units_it_takes() -> None:
    """Units are made as they are taken: with room for 5 rows, 40 due chains make 5 units
    (a storm's passes made one for each of thousands of due chains to take a few hundred)."""
    found = plan([row(i, incident=i) for i in range(1, 41)])
    made: list[Unit] = []

    def counted(got: Iterable[Unit]) -> Iterator[Unit]:
        for unit in got:
            made.append(unit)
            yield unit

    taken = take(counted(units(found.ready, {}, NOW, batch=set())[0]), {"hook": 5})
    assert (
        [u.chains[0][0].id for u in taken["hook"]]
        == [1, 2, 3, 4, 5]
        == [u.chains[0][0].id for u in made]
    )
    assert take(counted(units(found.ready, {}, NOW, batch=set())[0]), {"hook": 0}) == {}
    assert len(made) == 5


def test_a_group_larger_than_the_room_still_goes_first() -> None:
    """A batch receiver's group of more rows than a pass may take goes whole (alone), so no
    group is too big to ever be delivered."""
    found = plan(
        [row(i, incident=i, receiver="mail") for i in range(1, 41)], group_by=["alertname"]
    )
    got, _ = units(found.ready, {}, NOW, batch={"mail"})
    taken = take(got, {"mail": 10})
    assert [u.size for u in taken["mail"]] == [40]


def test_earliest_ignores_what_does_not_wait() -> None:
    """The next look is at the earliest wait; None when nothing waits on time."""
    assert earliest(None, NOW + 5, NOW + 2) == NOW + 2
    assert earliest(None, None) is None


class CountingRouter(Router):
    """A real route tree that counts how often a chain is routed."""

    calls = 0

    def route_for(self, label_sets: Any, receiver: str) -> Any:
        self.calls += 1
        return super().route_for(label_sets, receiver)


def test_a_storms_chains_are_routed_once_not_on_every_pass() -> None:
    """Scanning the same 100 open rows again routes none of them again (a storm's passes each
    routed every due chain anew), and the plan is the same."""
    tree = CountingRouter(router(group_by=["item"]).root)
    rows = [row(n, incident=n) for n in range(1, 101)]
    kept = KeptRoutes()
    ages = {"hook": 3600.0}
    first = scan(rows, NOW, max_age=ages, router=tree, inflight=frozenset(), routes=kept)
    again = scan(rows, NOW, max_age=ages, router=tree, inflight=frozenset(), routes=kept)
    assert tree.calls == 100
    assert again.ready.keys() == first.ready.keys()


def test_kept_routes_follow_a_reload_and_an_incidents_new_labels() -> None:
    """A reloaded route tree, or a row whose incident's labels changed, is routed afresh."""
    kept = KeptRoutes()
    ages = {"hook": 3600.0}
    head = row(1, labels={"item": "db1", "severity": "critical"})
    by_item = router(group_by=["item"])
    found = scan([head], NOW, max_age=ages, router=by_item, inflight=frozenset(), routes=kept)
    assert list(found.ready) == [("hook", "root|item=db1")]
    by_severity = router(group_by=["severity"])
    found = scan([head], NOW, max_age=ages, router=by_severity, inflight=frozenset(), routes=kept)
    assert list(found.ready) == [("hook", "root|severity=critical")]
    moved = dataclasses.replace(head, label_sets=({"item": "db1", "severity": "warning"},))
    found = scan([moved], NOW, max_age=ages, router=by_severity, inflight=frozenset(), routes=kept)
    assert list(found.ready) == [("hook", "root|severity=warning")]
