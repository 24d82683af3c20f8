"""JSON bytes that are kept a while, in objects of their own size.

orjson writes each document into a fresh buffer far larger than a short document, from the C
allocator, and shrinks it in place when done. A document thrown away at once costs nothing more;
one that is kept pins its buffer's place in the heap, the next document's buffer no longer fits
in what the shrink gave back, and so every kept document moves the heap on and touches a new page.
Measured with orjson 3.13: 200,000 kept documents of 30 bytes made a process 815 MB large and cost
a page fault each (about 1.5 µs of kernel time; 2 µs a document in all), where copies of them
took 46 MB and 0.3 µs a document. The worker keeps a batch's changelog keys until they are
written (and, where the compiled core is not built, its routed items until they are sent and its
records until they are written; the core writes those bytes itself, at their size): `dumps` gives
it the same bytes, copied into an object of their own size, and orjson's buffer goes back at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


def dumps(
    value: Any, default: Callable[[Any], Any] | None = None, option: int | None = None
) -> bytes:
    """`orjson.dumps(value, default=default, option=option)`, for bytes that are kept."""
    return bytes(memoryview(orjson.dumps(value, default=default, option=option)))
