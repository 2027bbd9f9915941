"""Which live node polls each check: rendezvous (highest-random-weight) hashing.

Every node scores every (item, check) with a 64-bit BLAKE2b of the node's name, the item and
the check; the eligible node (alive, serving the item's zone) with the highest score owns it.
Each node computes the same answer from the same live set, with no coordination, and a
change of the live set moves only the checks it must: a node that joins takes the checks it
now scores highest on, a node that leaves hands over its own checks and nobody else's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import blake2b

from watchd.cluster.model import NodeView

CheckKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Placed:
    """A check to place: its key and the zone of its item."""

    item: str
    check: str
    zone: str

    @property
    def key(self) -> CheckKey:
        return (self.item, self.check)


def _part(text: str) -> bytes:
    """`text` with its length in front: "a" + "bc" and "ab" + "c" hash differently."""
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def score(node: str, item: str, check: str) -> int:
    """The node's 64-bit weight for one check (the same on every node, in every process)."""
    digest = blake2b(_part(node) + _part(item) + _part(check), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owners(checks: Iterable[Placed], live: Sequence[NodeView]) -> dict[CheckKey, str | None]:
    """The owner of every check among the `live` nodes serving its zone; None where none does.

    Ties (two nodes with one 64-bit score) go to the lower name, so every node agrees.
    """
    by_zone: dict[str, list[tuple[str, bytes]]] = {}
    for node in sorted(live, key=lambda n: n.name):
        for zone in node.zones:
            by_zone.setdefault(zone, []).append((node.name, _part(node.name)))
    result: dict[CheckKey, str | None] = {}
    for placed in checks:
        nodes = by_zone.get(placed.zone)
        if not nodes:
            result[placed.key] = None
            continue
        if len(nodes) == 1:
            result[placed.key] = nodes[0][0]
            continue
        tail = _part(placed.item) + _part(placed.check)
        best, best_score = "", -1
        for name, head in nodes:
            weight = int.from_bytes(blake2b(head + tail, digest_size=8).digest(), "big")
            if weight > best_score:
                best, best_score = name, weight
        result[placed.key] = best
    return result
