"""The worker's event loop: uvloop (libuv's loop, in C) where it is installed, else asyncio's.

The worker runs both stages, every Kafka client and Faust in one asyncio loop, and a good part
of its busy time was that loop's own machinery (selector, transports, callbacks and futures,
in Python). uvloop does the same work in C (docs/worker.md, Benchmark, for what it measured).
`asyncio` stays for whoever needs the standard loop, and where uvloop has no build (Windows).
"""

from __future__ import annotations

import asyncio
import importlib.util


def loop_name(choice: str) -> str:
    """The loop a validated `event_loop` setting gives here: `auto` is uvloop where it is
    installed, else asyncio."""
    if choice == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return choice


def use_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A new loop of `choice` (`loop_name`), set as this thread's current loop: Faust and its
    Kafka clients take the current loop when they are made."""
    loop: asyncio.AbstractEventLoop
    if loop_name(choice) == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """What `loop` is, for the worker's start line: uvloop or asyncio."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"
