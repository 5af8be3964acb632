"""The garbage collector kept off the panic path.

CPython's cyclic collector holds the event loop while it runs, at moments nobody chooses, a
panic's included. A full collection walks every tracked object: after start-up that is ~90,000
(the modules, their schemas, the rooms), 60 ms on the clinic's 2-core box. Nearly all of them
live as long as the process, so they are collected once and frozen (`gc.freeze`); later
collections walk only what was made since (music plans, events, requests).

And collections are made rarer: almost all the service's garbage is freed by reference counting
the moment it is dropped (in bench/panic_latency.py most full collections found nothing to
free), so the collector has little to find and a run every few seconds was pure pause.
"""

from __future__ import annotations

import gc

# (young objects before a collection, young collections per middle one, middle ones per full one)
THRESHOLDS = (10_000, 10, 100)


def settle() -> int:
    """Collect what start-up left behind, freeze the rest and make collections rarer; returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return gc.get_freeze_count()
