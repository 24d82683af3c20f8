"""The worker's collector thresholds (streams/worker/gc_policy.py)."""

from __future__ import annotations

import gc

from friction_detector.streams.worker.gc_policy import WORKER_THRESHOLDS, use_worker_thresholds


def test_worker_thresholds_are_set_and_the_previous_ones_returned() -> None:
    before = gc.get_threshold()
    try:
        assert use_worker_thresholds() == before
        assert gc.get_threshold() == WORKER_THRESHOLDS
        assert gc.isenabled()  # raised, never off: a worker runs for weeks
    finally:
        gc.set_threshold(*before)
