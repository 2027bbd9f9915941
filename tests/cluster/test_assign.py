"""Rendezvous hashing: every check has one owner, and a change of nodes moves only what it must."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from watchd.cluster.assign import Placed, owners, score
from watchd.cluster.model import NodeView

names = st.text(min_size=1, max_size=12)
node_sets = st.sets(names, min_size=1, max_size=6)
check_lists = st.lists(st.tuples(names, names), min_size=1, max_size=60, unique=True)


def _nodes(names: set[str], zones: frozenset[str] = frozenset({"default"})) -> list[NodeView]:
    return [NodeView(name, zones) for name in sorted(names)]


def _placed(keys: list[tuple[str, str]], zone: str = "default") -> list[Placed]:
    return [Placed(item, check, zone) for item, check in keys]


@given(node_sets, check_lists)
def test_every_check_has_exactly_one_live_owner(
    nodes: set[str], keys: list[tuple[str, str]]
) -> None:
    """Each check is owned by one of the live nodes, whatever order the nodes come in."""
    placed = _placed(keys)
    result = owners(placed, _nodes(nodes))
    assert set(result) == set(keys)
    assert all(owner in nodes for owner in result.values())
    assert owners(placed, list(reversed(_nodes(nodes)))) == result


@given(node_sets, names, check_lists)
def test_a_joining_node_takes_checks_only_for_itself(
    nodes: set[str], new: str, keys: list[tuple[str, str]]
) -> None:
    """After a node joins, every check either stayed where it was or moved to the new node."""
    placed = _placed(keys)
    before = owners(placed, _nodes(nodes))
    after = owners(placed, _nodes(nodes | {new}))
    assert all(after[k] == before[k] or after[k] == new for k in keys)


@given(node_sets, check_lists, st.data())
def test_a_leaving_node_hands_over_only_its_own_checks(
    nodes: set[str], keys: list[tuple[str, str]], data: st.DataObject
) -> None:
    """After a node leaves, only the checks it owned have a new owner."""
    gone = data.draw(st.sampled_from(sorted(nodes)))
    placed = _placed(keys)
    before = owners(placed, _nodes(nodes))
    after = owners(placed, _nodes(nodes - {gone}))
    for key in keys:
        if before[key] != gone:
            assert after[key] == before[key]
        else:
            assert after[key] != gone


def test_a_zone_no_live_node_serves_has_no_owner() -> None:
    """Checks of a zone no live node is in are owned by nobody; other zones go to their nodes."""
    live = [NodeView("a", frozenset({"default"})), NodeView("b", frozenset({"dc2", "default"}))]
    result = owners(
        [Placed("x", "ping", "dc2"), Placed("y", "ping", "dc3"), Placed("z", "ping", "default")],
        live,
    )
    assert result[("x", "ping")] == "b"
    assert result[("y", "ping")] is None
    assert result[("z", "ping")] in {"a", "b"}


def test_item_and_check_are_hashed_apart() -> None:
    """An item and check that concatenate to the same text score differently."""
    assert score("n", "ab", "c") != score("n", "a", "bc")


@settings(max_examples=20)
@given(st.lists(names, min_size=3, max_size=3, unique=True))
def test_600_checks_spread_evenly_over_3_nodes(nodes: list[str]) -> None:
    """600 checks over 3 nodes give each node between 150 and 250 of them."""
    placed = [Placed(f"host{i // 4}", f"check{i % 4}", "default") for i in range(600)]
    result = owners(placed, _nodes(set(nodes)))
    counts = [list(result.values()).count(node) for node in nodes]
    assert sum(counts) == 600
    assert all(150 <= count <= 250 for count in counts), counts


def test_placing_10000_checks_is_cheap() -> None:
    """10,000 checks over 3 nodes are placed in well under 10 ms a thousand (CPU time)."""
    placed = [Placed(f"host{i // 10}", f"check{i % 10}", "default") for i in range(10_000)]
    live = _nodes({"node-a", "node-b", "node-c"})
    started = time.process_time()
    owners(placed, live)
    spent = time.process_time() - started
    assert spent < 0.1, f"{spent:.3f} s of CPU for 10,000 checks"
