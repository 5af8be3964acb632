"""The start-up heap frozen out of the garbage collector's way (app/heap.py), in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys

from app.heap import THRESHOLDS

PROBE = """
import gc, json
import app.api.app  # the service's modules, as `arcroom serve` has them loaded when it settles
from app import heap
frozen = heap.settle()
print(json.dumps({"frozen": frozen, "walked": len(gc.get_objects()), "thresholds": list(gc.get_threshold())}))
"""


def test_what_start_up_made_is_frozen_and_collections_walk_only_what_came_after() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    found = json.loads(out.stdout)
    assert found["frozen"] > 50_000  # the modules and their schemas
    assert found["walked"] < 1_000  # what a full collection still walks
    assert tuple(found["thresholds"]) == THRESHOLDS
