"""The cycle collector's thresholds for the long-running worker.

With the defaults (a young collection every 700 net allocations) the worker spent a quarter to a
third of its CPU in the collector on batch input: each batch allocates hundreds of thousands of
short-lived objects (decoded events, routed items, changelog records), and every young collection
also walks the survivors still referenced by the batch in flight. Raised thresholds keep most of
that work away while every cycle is still collected, so memory stays bounded; replay, a one-pass
run, turns the collector off instead (streams/cli/heap.py), which a worker that runs for weeks
with Faust's and aiokafka's objects around it must not do.
"""

from __future__ import annotations

import gc

# Python's defaults are (700, 10, 10). A young collection per 50,000 net allocations, a middle
# one per 20 young ones; full collections are further held back by Python itself until the
# objects new to the oldest generation are a quarter of it, so they stay rare in a large heap.
WORKER_THRESHOLDS = (50_000, 20, 100)


def use_worker_thresholds() -> tuple[int, int, int]:
    """Set the worker's thresholds; returns the previous ones."""
    previous = gc.get_threshold()
    gc.set_threshold(*WORKER_THRESHOLDS)
    return previous
