"""Garbage-collector settings for a one-pass run, such as replay, that builds up large state."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_state() -> Iterator[None]:
    """Turn the cycle collector off for the run; reference counting still frees everything.

    The engine and the built-in detectors make no reference cycles, yet the collector walks
    every object that survives a while, and detector state is most of them. Measured over a
    million events: the default thresholds cost replay a quarter of its rate, raised
    thresholds a sixth, and even one young collection per 32,768 events followed by
    `gc.freeze` a sixth (the cost is per object walked, about 150 ns). The price of turning
    it off: a plugin that makes reference cycles keeps them until the run ends.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
