"""Garbage-collector settings for processes that hold large, long-lived detector state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_state() -> Iterator[None]:
    """Make full collections rare while detector state grows.

    Detector records hold no reference cycles, yet every full collection walks all of them;
    with the default thresholds that cost grows with the state and cut replay's rate by a
    quarter. Young collections still run, so cyclic garbage elsewhere is still reclaimed.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
