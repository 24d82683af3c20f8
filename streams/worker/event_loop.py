"""The worker's event loops: uvloop (libuv's loop, in C) where it is installed, else asyncio's.

The worker runs its stages, its Kafka clients and Faust in one asyncio loop, and Faust's
consumer in a loop of its own in another thread; stage 1 in a process of its own
(input_process.py) runs on a loop of the same kind. A loop's own machinery (selector, transports,
callbacks and futures) is Python in the standard loop and C in uvloop: on uvloop the worker
waits less between its stages, about 1.1x events/s with every detector (docs/worker.md,
Benchmark). `asyncio` stays for whoever needs the standard loop, and where uvloop has no build
(Windows).
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
    Kafka clients take the current loop when they are made. The process's event loop policy
    is set to the same kind, so a loop made later in another thread is of that kind too:
    Faust's consumer runs in a thread of its own, on a loop it makes with
    `asyncio.new_event_loop()`."""
    if loop_name(choice) == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)  # the standard policy
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def loop_kind(loop: asyncio.AbstractEventLoop) -> str:
    """What `loop` is, for the worker's start line: uvloop or asyncio."""
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"
