"""What the daemon does to garbage collection once it has started (watchd.app)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

# Run in a fresh interpreter: the tuning is process-wide, and a test process's own objects
# would be frozen with it.
_SCRIPT = """
import gc, json
from watchd.app import tune_garbage_collection
before = gc.get_threshold()
tune_garbage_collection()
start = gc.get_stats()[0]["collections"]
kept = [[i] for i in range(50_000)]  # 50,000 containers that stay alive, as a storm's batch
print(json.dumps({
    "before": before,
    "after": gc.get_threshold(),
    "frozen": gc.get_freeze_count(),
    "young_collections": gc.get_stats()[0]["collections"] - start,
}))
"""


@pytest.fixture(scope="module")
def tuned() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_a_started_daemon_keeps_start_up_objects_out_of_collections(
    tuned: dict[str, Any],
) -> None:
    assert tuned["frozen"] > 10_000


def test_a_storm_of_allocations_is_collected_ten_thousand_at_a_time(
    tuned: dict[str, Any],
) -> None:
    # CPython's default collects the youngest generation every 700 allocations: a storm's
    # batches set off a thousand young and ten full collections per 50,000 alerts.
    assert tuned["before"] == [700, 10, 10]
    assert tuned["after"] == [10_000, 10, 10]
    assert tuned["young_collections"] <= 5
