"""Memory settings for a one-pass run, such as replay, that builds up large state."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

# What a one-pass run asked to keep until the process ends (`keep_until_exit`).
_kept: list[object] = []
_exits_at_once = False


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


def keep_until_exit(state: object) -> None:
    """Keep a finished run's state until the process ends, when the command line will end it
    at once (`run_and_exit`): freeing hundreds of thousands of keys' state one object at a time
    took a tenth of a replay, and the operating system takes the memory back whole. The cycle
    collector, on again after the run, is told to leave it alone (`gc.freeze`): its first
    full pass would otherwise walk every object of it once more. Anywhere else (a test, a
    program that calls replay) the state is freed as usual."""
    if _exits_at_once:
        _kept.append(state)
        gc.freeze()


def run_and_exit(main: Callable[[], int]) -> NoReturn:
    """Run the command line's `main`, then end the process with its status. When a command kept
    its state (`keep_until_exit`), the standard streams are flushed and the process ends without
    freeing it; the command has closed its own files by then. Otherwise Python exits as usual."""
    global _exits_at_once
    _exits_at_once = True
    status = main()
    if _kept:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # as Python's own exit reports a failed flush of its streams
            status = status or 120
        os._exit(status)
    sys.exit(status)
